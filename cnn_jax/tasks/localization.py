"""Classification with localization (config.mode='box') and landmarks ('landmarks') on
detection canvases (data.canvases), on the supervised runner (tasks/_supervised.py).

mode 'box': one object or none per canvas (config.data.canvas.objects = (0, 1)); the model
(models.localization.LocalizationNet) predicts y = [p_c, bx, by, bh, bw, c1..cn] for the
object in slot 0; loss: losses.localization (config.loss.form 'practical' | 'teaching');
eval: localization accuracy (present: p̂_c >= 0.5, class right, IoU >= 0.5; absent:
p̂_c < 0.5) over all test canvases, p_c accuracy, class accuracy, mean IoU, and
localized_present (localization accuracy over the canvases that hold a digit).

mode 'landmarks': one object per canvas; 2 L outputs, the L = 5 canvas keypoints of the
object (canvases.KEYPOINT_NAMES: top, bottom, left, right, centre, exact functions of the
pasted ink) as normalised (x / W, y / H); loss: losses.localization.landmark_loss; eval:
NME normalised by the box diagonal ('nme_box_diagonal') and by the left-right distance
('nme_left_right'), plus the mean pixel error.

Keys: experiments/_localization.py. Pictures (process 0, at the end): localization.png or
landmarks.png, 32 test canvases. Geometric augmentation moves boxes and points with the
image (flips swap 'left' and 'right': flip_pairs) — digits are not flip-symmetric, so the
experiments train on more canvases instead.
"""
import jax.numpy as jnp
import numpy as np

from cnn_jax.data import canvases
from cnn_jax.losses import localization as loss_lib
from cnn_jax.metrics import localization as metrics
from cnn_jax.models.localization import LocalizationNet
from cnn_jax.ops import localization as loc
from cnn_jax.tasks import _supervised

MODES = ('box', 'landmarks')
LEFT, RIGHT = canvases.KEYPOINT_NAMES.index('left'), canvases.KEYPOINT_NAMES.index('right')


class Localization(_supervised.Task):
  """See the module docstring."""
  augment_targets = {'boxes': 'boxes', 'boxes_valid': 'boxes_valid', 'points': 'points',
                     'points_valid': 'points_valid'}

  def __init__(self, config):
    super().__init__(config)
    if config.mode not in MODES:
      raise ValueError(f'Unknown mode {config.mode!r}; choose one of {list(MODES)} '
                       '(config.mode).')
    self.box_mode = config.mode == 'box'
    self.progress = (('loss', 'localization_accuracy') if self.box_mode else ('loss', 'nme'))
    self.canvas = canvases.config_from(config.data.canvas.to_dict())
    self.size = self.canvas.size
    if self.box_mode and self.canvas.objects[1] != 1:
      raise ValueError(f'mode "box" localizes one object: config.data.canvas.objects must be '
                       f'(0, 1) or (1, 1), not {self.canvas.objects}.')
    if not self.box_mode and self.canvas.objects[0] < 1:
      raise ValueError('mode "landmarks" needs an object on every canvas: '
                       f'config.data.canvas.objects = (1, 1), not {self.canvas.objects}.')

  def load_data(self):
    d = self.config.data
    return canvases.load(self.canvas, d.num_train, d.num_test, seed=d.canvas_seed)

  def build_model(self, dataset):
    m = self.config.model
    return LocalizationNet(
        num_classes=dataset.num_classes if self.box_mode else 0,
        num_landmarks=0 if self.box_mode else len(canvases.KEYPOINT_NAMES),
        localize=self.box_mode, backbone=m.backbone, widths=tuple(m.widths), convs=m.convs,
        hidden=m.hidden,
        dropout=m.dropout)

  def augment_kwargs(self):
    return {'flip_pairs': ((LEFT, RIGHT),)}

  def prepare(self, examples):
    image = examples['image'].astype(np.float32) / 255
    if self.config.data.channels == 3 and image.shape[-1] == 1:
      image = np.repeat(image, 3, -1)
    canvases.check_points_inside(examples['keypoints'], self.size, examples['valid'])
    return {'image': np.ascontiguousarray(image), 'boxes': examples['boxes'][:, :1],
            'labels': examples['labels'][:, :1], 'boxes_valid': examples['valid'][:, :1],
            'points': examples['keypoints'][:, 0],
            'points_valid': np.repeat(examples['valid'][:, :1], len(canvases.KEYPOINT_NAMES), 1)}

  def _targets(self, batch):
    return loc.encode(batch['boxes'], batch['labels'], batch['boxes_valid'], self.size)

  def _norm_points(self, points):
    h, w = self.size
    return points / jnp.asarray([w, h], points.dtype)

  def objective(self, outputs, batch):
    l = self.config.loss
    if self.box_mode:
      t = self._targets(batch)
      loss, parts = loss_lib.localization_loss(
          outputs['y'], t['present'], t['box'], t['label'], l.form, l.box, l.box_weight,
          l.class_weight, l.normalize, l.beta)
      m = metrics.localization_per_example(outputs['y'], t['present'], t['box'], t['label'],
                                           self.size)
      return loss, {'localization_accuracy': m['correct'].mean(), **{
          f'loss_{k}': v for k, v in parts.items()}}
    pred = loc.decode_landmarks(outputs['landmarks'])
    loss = loss_lib.landmark_loss(pred, self._norm_points(batch['points']),
                                  batch['points_valid'], l.landmarks)
    nme = self._nme(pred, batch)
    return loss, {'nme': nme.mean()}

  def _nme(self, pred, batch, normalizer='box_diagonal'):
    h, w = self.size
    pixels = pred * jnp.asarray([w, h], pred.dtype)
    if normalizer == 'box_diagonal':
      d = metrics.box_diagonal(batch['boxes'][:, 0])
    else:
      d = metrics.inter_point_distance(batch['points'], LEFT, RIGHT)
    return metrics.nme_per_example(pixels, batch['points'], jnp.maximum(d, 1e-6),
                                   batch['points_valid'])

  def evaluators(self, run):
    if self.box_mode:
      def metric_fn(outputs, batch):
        t = self._targets(batch)
        return metrics.localization_per_example(outputs['y'], t['present'], t['box'],
                                                t['label'], self.size)
      means = run.masked_means(metric_fn)
      return {'test': lambda state: metrics.summarize(means(state))}

    def landmark_fn(outputs, batch):
      pred = loc.decode_landmarks(outputs['landmarks'])
      h, w = self.size
      err = jnp.sqrt(jnp.sum((pred * jnp.asarray([w, h]) - batch['points']) ** 2, -1))
      return {'nme_box_diagonal': self._nme(pred, batch),
              'nme_left_right': self._nme(pred, batch, 'inter_point'),
              'mean_error_px': err.mean(-1)}
    return {'test': run.masked_means(landmark_fn)}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz.localization import plot_landmarks, plot_localization
    test = run.dataset.test
    batch = self.prepare(test.get(np.linspace(0, len(test) - 1, 32).astype(np.int64)))
    out = run.predict(state, batch)
    if self.box_mode:
      d = {k: np.asarray(v) for k, v in loc.decode(out['y']).items()}
      return {'localization': plot_localization(
          batch['image'], batch['boxes'][:, 0], batch['boxes_valid'][:, 0],
          batch['labels'][:, 0], np.asarray(loc.box_to_xyxy(d['box'], self.size)), d['p_c'],
          d['class'], run.dataset.class_names, run.path('localization.png'))}
    h, w = self.size
    pred = np.asarray(loc.decode_landmarks(out['landmarks'])) * np.array([w, h])
    return {'landmarks': plot_landmarks(batch['image'], batch['points'], pred,
                                        canvases.KEYPOINT_NAMES, run.path('landmarks.png'))}


def run(config, workdir: str):
  """Trains and evaluates the localization or landmark model on canvases; resumes."""
  return _supervised.run(Localization(config), workdir)
