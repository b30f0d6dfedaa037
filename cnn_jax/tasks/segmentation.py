"""Semantic segmentation (a class per pixel) on the supervised runner (tasks/_supervised.py).

Data (config.data.name):
  'nuclei'    the stardist wheel's real 512x512 fluorescence tile (data.nuclei): 2 classes
              (background, nucleus); train crops from three quadrants, test = the fourth;
              per-pixel weights = the U-Net paper's border weight map (config.loss.border).
  'canvases'  digit canvases (data.canvases): background + one class per digit (11 for
              MNIST); the class of a pixel is its instance's digit.
  'voc_masks' the 3 real VOC 2011 photos with class masks of the labelme sdist
              (data.voc_masks), resized to config.data.photo_size: 21 classes, 255 =
              labelme's don't-care pixels (set config.loss.ignore_index=255); train = test,
              an overfit check of the whole path.

Model: any registered per-pixel model (config.model: 'unet' with its widths / padding /
batch_norm). A VALID U-Net's output is the centre of its input: labels and weights are
centre-cropped to the logits before the loss and metrics.
Loss (config.loss.name): 'ce' (class weights, ignore index, pixel weights), 'dice' (soft
Dice), 'dice_ce'. Augmentation moves the labels and the weight map with the image (one
nearest-resampled 2-channel mask 'target' = [label, weight]); where the image is filled the
weight is 0, so filled pixels teach nothing.
Evaluation over the whole test split (each example once): confusion matrix -> per-class
IoU / Dice, mIoU, mean Dice, foreground Dice (class 1), dataset pixel accuracy; per-image
foreground Dice (mean over images). Pictures: segmentation.png (image | truth | prediction |
errors), transpose_conv.png (the scatter-and-sum of a 2x2 input) and, for nuclei,
instances.json (how many nuclei the prediction splits or merges).

Keys: experiments/_segmentation.py.
"""
import json

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.losses import segmentation as seg_losses
from cnn_jax.metrics import segmentation as seg_metrics
from cnn_jax.tasks import _supervised

NUM_CLASSES = {'nuclei': 2, 'canvases': 11, 'voc_masks': 21}
LOSSES = ('ce', 'dice', 'dice_ce')
BALANCE = {'': 0.0, 'balanced': 1.0, 'sqrt': 0.5}   # class weight = (P / (K P_c)) ** power


def centre_crop(x, height: int, width: int):
  """`[N, H, W, ...]` -> its centre `[N, height, width, ...]` (VALID outputs are centred)."""
  top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
  return x[:, top:top + height, left:left + width]


class Segmentation(_supervised.Task):
  """See the module docstring."""
  unit, progress = 'img', ('loss', 'pixel_accuracy')
  augment_targets = {'target': 'mask'}

  def __init__(self, config):
    super().__init__(config)
    if config.data.name not in NUM_CLASSES:
      raise ValueError(f'Unknown segmentation data {config.data.name!r}; choose one of '
                       f'{list(NUM_CLASSES)} (config.data.name).')
    if config.loss.name not in LOSSES:
      raise ValueError(f'Unknown loss {config.loss.name!r}; choose one of {list(LOSSES)} '
                       '(config.loss.name).')

  def load_data(self):
    dataset = self._load()
    self.class_weights = self.train_class_weights(dataset.train)
    return dataset

  def train_class_weights(self, split) -> tuple[float, ...] | None:
    """The CE class weights: config.loss.class_weights when given, else from the train
    labels' pixel frequencies (config.loss.class_balance): 'balanced' w_c = P / (K P_c)
    (`losses.segmentation.balanced_class_weights`), 'sqrt' its square root, '' none."""
    loss = self.config.loss
    if tuple(loss.class_weights):
      if len(loss.class_weights) != self.num_classes:
        raise ValueError(f'config.loss.class_weights has {len(loss.class_weights)} entries; '
                         f'{self.config.data.name} has {self.num_classes} classes.')
      return tuple(float(w) for w in loss.class_weights)
    if loss.class_balance not in BALANCE:
      raise ValueError(f'Unknown class_balance {loss.class_balance!r}; choose one of '
                       f'{list(BALANCE)} (config.loss.class_balance).')
    if not loss.class_balance:
      return None
    labels = self.labels(split.get(np.arange(len(split))))
    if self.ignore_index is not None:
      labels = labels[labels != self.ignore_index]
    w = seg_losses.balanced_class_weights(labels, self.num_classes) ** BALANCE[loss.class_balance]
    return tuple(float(x) for x in w)

  def _load(self):
    d = self.config.data
    if d.name == 'nuclei':
      from cnn_jax.data import nuclei
      return nuclei.load_nuclei(d.crop, d.num_train, d.test_quadrant, d.crop_seed,
                                self.config.loss.border_w0, self.config.loss.border_sigma)
    if d.name == 'voc_masks':
      from cnn_jax.data import voc_masks
      return voc_masks.load_voc_masks(tuple(d.photo_size))
    from cnn_jax.data import canvases, sources
    ds = canvases.load(canvases.config_from(d.canvas.to_dict()), d.num_train, d.num_test,
                       d.crop_seed)
    return sources.Dataset(ds.name, ds.train, ds.test, ds.num_classes + 1,
                           ('background', *ds.class_names))

  def augment_kwargs(self):
    return {'mask_fill': 0}

  def labels(self, examples) -> np.ndarray:
    """int32 `[B, H, W]` class ids, checked against the number of classes."""
    if 'segmentation' in examples:
      labels = examples['segmentation'].astype(np.int32)
    else:  # canvases: instance n + 1 -> 1 + its digit
      inst = examples['instances'].astype(np.int64)
      digit = np.take_along_axis(examples['labels'], np.maximum(inst - 1, 0).reshape(
          len(inst), -1), 1).reshape(inst.shape)
      labels = np.where(inst > 0, digit + 1, 0).astype(np.int32)
    seg_losses.check_labels(labels, self.num_classes, self.ignore_index,
                            f'{self.config.data.name} labels')
    return labels

  @property
  def num_classes(self) -> int:
    return NUM_CLASSES[self.config.data.name]

  @property
  def ignore_index(self):
    return self.config.loss.ignore_index if self.config.loss.ignore_index >= 0 else None

  def prepare(self, examples):
    image = examples['image']
    image = (image.astype(np.float32) / 255.0 if image.dtype == np.uint8
             else image.astype(np.float32))
    labels = self.labels(examples)
    if image.shape[1:3] != labels.shape[1:3]:
      raise ValueError(f'Mask size {labels.shape[1:3]} differs from image size '
                       f'{image.shape[1:3]} ({self.config.data.name}).')
    weights = (examples['weights'].astype(np.float32) if self.config.loss.border
               and 'weights' in examples else np.ones(labels.shape, np.float32))
    return {'image': image, 'target': np.stack([labels.astype(np.float32), weights], -1)}

  def _terms(self, logits, batch):
    target = centre_crop(batch['target'], *logits.shape[1:3])
    return logits, target[..., 0].astype(jnp.int32), target[..., 1]

  def objective(self, outputs, batch):
    logits, labels, weights = self._terms(outputs, batch)
    loss_cfg = self.config.loss
    class_weights = getattr(self, 'class_weights', None)
    ce = seg_losses.pixel_cross_entropy(logits, labels, class_weights, self.ignore_index,
                                        weights)
    dice = seg_losses.soft_dice_loss(logits, labels, self.ignore_index)
    loss = {'ce': ce, 'dice': dice,
            'dice_ce': loss_cfg.ce_weight * ce + loss_cfg.dice_weight * dice}[loss_cfg.name]
    counted = weights > 0
    if self.ignore_index is not None:
      counted &= labels != self.ignore_index
    right = (jnp.argmax(logits, -1) == labels) & counted
    return loss, {'ce': ce, 'dice_loss': dice,
                  'pixel_accuracy': right.sum() / jnp.maximum(counted.sum(), 1)}

  def evaluators(self, run):
    k, ignore = self.num_classes, self.ignore_index

    def metric_fn(logits, batch):
      logits, labels, _ = self._terms(logits, batch)
      pred = jnp.argmax(logits, -1)
      per_image = jax.vmap(lambda p, t: seg_metrics.confusion_matrix(p[None], t[None], k, ignore))
      tp, fp, fn, tn = seg_metrics.stats(pred, labels, k, ignore)
      return {'confusion': per_image(pred, labels).astype(jnp.float32),
              'image_foreground_dice': seg_metrics.dice(tp, fp, fn, tn, 'none')[:, 1]}

    means = run.masked_means(metric_fn)

    def evaluate(state):
      out = means(state)
      scores = seg_metrics.scores_from_confusion(out['confusion'])
      return {**out, 'miou': scores['miou'], 'mean_dice': scores['mean_dice'],
              'foreground_dice': float(scores['dice'][1]),
              'pixel_accuracy': scores['pixel_accuracy'],
              'class_iou': scores['iou'], 'class_dice': scores['dice']}

    return {'test': evaluate}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz import segmentation as viz
    test = run.dataset.test
    indices = np.linspace(0, len(test) - 1, min(4, len(test))).astype(np.int64)
    examples = test.get(indices)
    batch = self.prepare(examples)
    logits = run.predict(state, batch)
    _, labels, _ = self._terms(logits, batch)
    pred = np.argmax(logits, -1)
    image = np.asarray(centre_crop(batch['image'], *pred.shape[1:3]))
    drawn = {'segmentation': viz.plot_segmentation(
        image, np.asarray(labels), pred, run.dataset.class_names, run.path('segmentation.png'))}
    # The course's picture: a 2x2 input scattered through a 3x3 kernel at stride 2, overlaps
    # summed, the result computed by ops.conv_transpose (the op the U-Net's up-convs use).
    from cnn_jax.ops.conv_transpose import conv_transpose
    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    kernel = np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, 1.0, 1.0]], np.float32)
    out = np.asarray(conv_transpose(x[None, :, :, None], kernel[:, :, None, None], strides=2))
    drawn['transpose_conv'] = viz.plot_transpose_conv(x, kernel, out[0, :, :, 0],
                                                      run.path('transpose_conv.png'))
    if 'instances' in examples and self.config.data.name == 'nuclei':
      inst = np.asarray(centre_crop(examples['instances'], *pred.shape[1:3]))
      report = [seg_metrics.instance_report(p == 1, t) for p, t in zip(pred, inst)]
      with open(run.path('instances.json'), 'w') as f:
        json.dump({'evaluation': {k: float(v) for k, v in (evaluation or {}).items()
                                  if np.ndim(v) == 0}, 'instances': report}, f, indent=1)
      print('nuclei instance report (held-out quadrant):', report)
    return drawn


def run(config, workdir: str):
  """Trains and evaluates a segmentation model; resumes in `workdir`."""
  return _supervised.run(Segmentation(config), workdir)
