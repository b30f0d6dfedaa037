"""Face embeddings: train f(x) with the triplet loss on P x K batches of some identities, and
evaluate verification and one-shot recognition on identities never seen in training.

Data: the ORL / AT&T faces (`data.orl`, 40 people x 10 photos), split by identity: people
0 .. data.train_identities - 1 train, the others test; or data.name='lfw', TFDS's Labeled
Faces in the Wild for users who have it prepared (`data.lfw`, split by person, people with
fewer than data.lfw.min_images photos left out). Config keys: experiments/_face.py.

Training (the supervised runner, tasks/_supervised.py): batches of P identities x K photos
(`data.pk_sampler`), embeddings optionally L2-normalised, `losses.triplet.mined_triplet_loss`
with loss.strategy / metric / margin; logged per step: loss, fraction_active, mean_pos_dist,
mean_neg_dist (a collapse shows as loss = margin with both distances ~0, and is warned about).

Evaluation on the test identities (`metrics.verification`): 1-NN identity accuracy, balanced
pairs in eval.num_folds folds -> accuracy at the threshold chosen on the other folds, ROC AUC,
EER, VAL@FAR eval.far (with the FAR resolution), N-way one-shot accuracy for eval.n_way, and
open-set one-shot accuracy at the mean chosen threshold. Pictures: roc.png, pairs.png,
one_shot.png, embeddings.png.

Inputs (`prepare`, data.preprocess): 'resize' (antialiased bilinear, `prepare_images`) or
the pretrained network's own 'stretch' | 'pad' (`models.face_recognition.preprocess`).

`init_from='face_api'` starts from face-api's pretrained dlib network (`weights.face_api`,
loaded through `Task.pretrained_variables`, so the runner fine-tunes it). With train.steps=0
it is evaluated as it is, on every test image (`evaluate_pretrained`, no runner): there
data.preprocess may also be 'mtcnn', the face MTCNN finds (`mtcnn_face_crops`,
data.crop_margin); data.train_identities=0 puts all 40 people in the test split.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from cnn_jax import models
from cnn_jax.data import orl, sources
from cnn_jax.data.pk_sampler import PKSampler
from cnn_jax.data.transforms import prepare_images
from cnn_jax.losses.triplet import mined_triplet_loss
from cnn_jax.metrics import verification as ver
from cnn_jax.ops.distances import pairwise_distances
from cnn_jax.tasks import _supervised


def load_orl_split(train_identities: int) -> sources.Dataset:
  """ORL split by person: train = people [0, n), test = people [n, 40) (all 40 when n = 0)."""
  if not 0 <= train_identities < orl.NUM_SUBJECTS:
    raise ValueError(f'data.train_identities={train_identities} must be in 0..{orl.NUM_SUBJECTS - 1}.')
  faces = orl.load_orl()
  train = faces.subjects < train_identities
  test = ~train
  names = tuple(f's{i + 1}' for i in range(orl.NUM_SUBJECTS))
  return sources.Dataset('orl', sources.ArraySplit(faces.images[train], faces.subjects[train]),
                         sources.ArraySplit(faces.images[test], faces.subjects[test]),
                         orl.NUM_SUBJECTS, names)


def load_faces(config) -> sources.Dataset:
  """config.data.name 'orl' (`load_orl_split`) or 'lfw' (TFDS, `data.lfw.load_lfw` with
  config.data.dir and config.data.lfw), split by person."""
  d = config.data
  if d.name == 'orl':
    return load_orl_split(d.train_identities)
  if d.name == 'lfw':
    from cnn_jax.data.lfw import load_lfw
    return load_lfw(d.dir, d.lfw.min_images, d.lfw.test_fraction, config.seed, d.lfw.crop)
  raise ValueError(f"Unknown face dataset config.data.name={d.name!r}; use 'orl' or 'lfw'.")


def prepare_faces(images: np.ndarray, data) -> np.ndarray:
  """uint8 [N, H, W, 1|3] -> float32 [N, S, S, 3] in [0, 1], S = data.image_size, by
  data.preprocess: 'resize' (antialiased, `prepare_images`) or 'stretch' | 'pad'
  (`models.face_recognition.preprocess`, what the pretrained network was evaluated with)."""
  if data.preprocess == 'resize':
    return prepare_images(images, data.image_size, 'resize', 3)
  if data.preprocess in ('stretch', 'pad'):
    from cnn_jax.models.face_recognition import preprocess
    return np.asarray(preprocess(jnp.asarray(images, jnp.float32) / 255.0, data.image_size,
                                 data.preprocess))
  raise ValueError(f"data.preprocess={data.preprocess!r} for training: use 'resize', 'stretch' "
                   "or 'pad' ('mtcnn' crops are for the pretrained evaluation, train.steps=0).")


def embedding_metrics(emb: np.ndarray, labels: np.ndarray, cfg, seed: int = 0) -> dict:
  """Every verification / recognition figure for embeddings [N, D] of people `labels` [N]."""
  metric = cfg.metric
  pairs, same, fold = ver.make_pairs(labels, cfg.num_folds, seed)
  dist = ver.pair_distances(emb, pairs, metric)
  kf = ver.kfold_verification(dist, same, fold)
  val = ver.val_at_far(dist, same, fold, cfg.far)
  if not val.resolvable:
    logging.warning(val.message)
  out = {'nn_accuracy': ver.nearest_neighbour_accuracy(emb, labels, metric),
         'verification_accuracy': kf.accuracy, 'verification_std': kf.std,
         'threshold': float(np.mean(kf.thresholds)), 'auc': ver.roc_auc(dist, same),
         'eer': ver.equal_error_rate(dist, same), 'val': val.val, 'far': val.far,
         'far_resolution': val.far_resolution, 'num_pairs': float(len(same))}
  people = len(np.unique(labels))
  for n in cfg.n_way:
    if n <= people:  # the open set needs one person more, outside the database
      tau = out['threshold'] if n < people else None
      res = ver.one_shot_accuracy(emb, labels, n, cfg.episodes, seed, tau=tau, metric=metric)
      out[f'one_shot_{n}way'] = res.accuracy
      if tau is not None:
        out[f'open_set_{n}way'] = res.open_set_accuracy
  return out


def draw(images, emb, labels, cfg, workdir, seed=0) -> dict:
  """roc.png, pairs.png, one_shot.png, embeddings.png for test images [N, H, W, C] in [0, 1]."""
  from cnn_jax.viz import faces as viz
  pairs, same, _ = ver.make_pairs(labels, cfg.num_folds, seed)
  dist = ver.pair_distances(emb, pairs, cfg.metric)
  fpr, tpr, thr = ver.roc_curve(dist, same)
  acc = ver.rates(dist, same, thr)[2]
  threshold = float(thr[int(np.argmax(acc))])
  out = {'roc': viz.plot_roc(fpr, tpr, ver.roc_auc(dist, same), ver.equal_error_rate(dist, same),
                             os.path.join(workdir, 'roc.png')),
         'pairs': viz.plot_pairs(images, pairs, same, dist, threshold,
                                 os.path.join(workdir, 'pairs.png')),
         'embeddings': viz.plot_embedding_2d(emb, labels, os.path.join(workdir, 'embeddings.png'))}
  rng = np.random.default_rng(seed)
  ids = np.unique(labels)
  n = min(5, len(ids))
  d = np.asarray(pairwise_distances(np.asarray(emb, np.float32), metric=cfg.metric))
  queries, support, right = [], [], []
  for _ in range(4):
    people = rng.choice(ids, n, replace=False)
    sup = np.array([rng.choice(np.flatnonzero(labels == c)) for c in people])
    t = int(rng.integers(n))
    queries.append(rng.choice(np.setdiff1d(np.flatnonzero(labels == people[t]), sup[t])))
    support.append(sup)
    right.append(t)
  queries, support = np.array(queries), np.array(support)
  out['one_shot'] = viz.plot_one_shot(images, queries, support, d[queries[:, None], support],
                                      np.array(right), os.path.join(workdir, 'one_shot.png'))
  return out


class _Embeddings:
  """Accumulator: embeddings and labels of the real (unpadded) test examples."""

  def __init__(self, cfg, seed):
    self.cfg, self.seed, self.emb, self.labels = cfg, seed, [], []

  def update(self, outputs, batch):
    keep = batch['mask'] > 0
    self.emb.append(outputs[keep])
    self.labels.append(batch['label'][keep])

  def result(self):
    emb, labels = np.concatenate(self.emb), np.concatenate(self.labels)
    spread = float(np.mean(np.linalg.norm(emb - emb.mean(0), axis=1)))
    if spread < 1e-6:
      logging.warning('All test embeddings are equal (spread %.2g): the network has collapsed.',
                      spread)
    return {**embedding_metrics(emb, labels, self.cfg, self.seed), 'spread': spread,
            'embeddings': emb, 'labels': labels}


class FaceEmbedding(_supervised.Task):
  """Triplet-loss embedding training on P x K batches (module doc)."""
  unit, progress = 'img', ('loss', 'fraction_active')

  def load_data(self):
    return load_faces(self.config)

  def build_model(self, dataset):
    kwargs = {k: v for k, v in self.config.model.to_dict().items() if k != 'name'}
    return models.create(self.config.model.name, **kwargs)

  def sampler(self, dataset):
    d = self.config.data
    if d.p * d.k != d.batch_size:
      raise ValueError(f'data.batch_size={d.batch_size} must equal data.p * data.k = {d.p * d.k}.')
    return PKSampler(dataset.train.labels, d.p, d.k, seed=self.config.seed)

  def pretrained_variables(self, model, source):
    """init_from='face_api': face-api's dlib network (the registry model 'face_recognition'
    with its defaults: 150x150 input, affine norm, 128-d)."""
    if source != 'face_api':
      return super().pretrained_variables(model, source)
    from cnn_jax.models.face_recognition import FaceRecognitionNet
    if not isinstance(model, FaceRecognitionNet) or (
        model.widths, model.blocks, model.embedding_dim, model.norm) != (
            (32, 64, 128, 256), (3, 3, 2, 2), 128, 'affine'):
      raise ValueError("init_from='face_api' loads dlib's network: config.model must be "
                       "name='face_recognition' with its default widths, blocks, embedding_dim "
                       "and norm='affine'.")
    from cnn_jax.weights import face_api
    return face_api.load_face_recognition()

  def prepare(self, examples):
    return {'image': prepare_faces(examples['image'], self.config.data),
            'label': examples['label'].astype(np.int32)}

  def _embed(self, outputs):
    if outputs.ndim != 2:
      raise ValueError(f'The embedding model must output vectors [B, D], got {outputs.shape}.')
    if self.config.loss.l2_normalize:
      outputs = outputs / jnp.sqrt(jnp.maximum(jnp.sum(outputs ** 2, -1, keepdims=True), 1e-12))
    return outputs

  def objective(self, outputs, batch):
    c = self.config.loss
    loss, stats = mined_triplet_loss(self._embed(outputs), batch['label'], c.margin, c.strategy,
                                     c.metric)
    return loss, {k: v for k, v in stats.items() if jnp.ndim(v) == 0}

  def evaluators(self, run):
    cfg, seed = self.config.eval, self.config.seed
    return {'test': run.accumulate(lambda out, b: self._embed(out),
                                   lambda: _Embeddings(cfg, seed), batch_keys=('label', 'mask'))}

  def pictures(self, run, state, evaluation):
    test = run.dataset.test
    images = self.prepare(test.get(np.arange(len(test))))['image']
    return draw(images, evaluation['embeddings'], evaluation['labels'], self.config.eval,
                run.workdir, self.config.seed)


def mtcnn_boxes(images: np.ndarray, batch: int = 50,
                compiler_options: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
  """The best-scoring face MTCNN (models.mtcnn_cascade) finds in each image: uint8
  [N, H, W, 1|3] -> (boxes float64 [N, 4] xyxy pixels, found bool [N])."""
  from cnn_jax.models import mtcnn
  from cnn_jax.models.mtcnn_cascade import make_detector
  from cnn_jax.weights.mtcnn import load_mtcnn
  rgb = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
  detect = make_detector(mtcnn.from_keras(load_mtcnn()), batched=True,
                         compiler_options=compiler_options)
  boxes, found = [], []
  for i in range(0, len(rgb), batch):
    faces = jax.device_get(detect(jnp.asarray(rgb[i:i + batch])))
    boxes.append(faces.boxes[:, 0])
    found.append(faces.valid[:, 0])
  return np.concatenate(boxes).astype(np.float64), np.concatenate(found)


def square_crops(images: np.ndarray, boxes: np.ndarray, found: np.ndarray, size: int = 150,
                 margin: float = 0.0) -> np.ndarray:
  """float [N, H, W, C] images, boxes [N, 4] xyxy, found bool [N] -> float32 [N, size, size, C].

  Each box is squared to side max(w, h) * (1 + margin) about its centre and resampled
  bilinearly at the size x size pixel centres (coordinates outside the photo clamped to the
  edge: its pixels repeated); an image whose box was not found is used whole (stretched)."""
  n, h, w, c = images.shape
  out = np.empty((n, size, size, c), np.float32)
  for k, (img, (x1, y1, x2, y2), ok) in enumerate(zip(np.asarray(images, np.float32), boxes, found)):
    if not ok:
      x1, y1, x2, y2 = 0.0, 0.0, float(w), float(h)
    side = max(x2 - x1, y2 - y1) * (1 + margin if ok else 1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if ok:
      grid_y = grid_x = (np.arange(size) + 0.5) * side / size - side / 2 - 0.5  # pixel centres
    else:
      grid_y = (np.arange(size) + 0.5) * h / size - h / 2 - 0.5
      grid_x = (np.arange(size) + 0.5) * w / size - w / 2 - 0.5
    ys, xs = np.clip(cy + grid_y, 0, h - 1), np.clip(cx + grid_x, 0, w - 1)
    y0, x0 = np.minimum(ys.astype(int), h - 2), np.minimum(xs.astype(int), w - 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x0 + 1] * fx
    bottom = img[y0 + 1][:, x0] * (1 - fx) + img[y0 + 1][:, x0 + 1] * fx
    out[k] = top * (1 - fy) + bottom * fy
  return out


def mtcnn_face_crops(images: np.ndarray, size: int = 150, margin: float = 0.0,
                     batch: int = 50, compiler_options: dict | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
  """Face crops by MTCNN: uint8 [N, H, W, 1|3] -> (float32 [N, size, size, 3] in [0, 1],
  found bool [N]): `mtcnn_boxes`, then `square_crops` (data.crop_margin). No landmark
  alignment; an image with no face detected is used whole and marked found=False."""
  boxes, found = mtcnn_boxes(images, batch, compiler_options)
  rgb = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
  return square_crops(rgb.astype(np.float32) / 255, boxes, found, size, margin), found


def evaluate_pretrained(config, workdir: str) -> dict:
  """face-api's network on the test split: metrics.json + the pictures (no training)."""
  from cnn_jax.weights import face_api
  os.makedirs(workdir, exist_ok=True)
  dataset = load_orl_split(config.data.train_identities)
  test = dataset.test.get(np.arange(len(dataset.test)))
  model = models.create(config.model.name)
  variables = jax.device_put(face_api.load_face_recognition())
  mode = config.data.preprocess

  found = None
  if mode == 'mtcnn':
    images = mtcnn_face_crops(test['image'], 150, config.data.crop_margin)
    images, found = images
  else:
    images = prepare_faces(test['image'], config.data)
  embed = jax.jit(lambda x: model.apply(variables, x))
  bs = config.data.eval_batch_size
  emb = np.concatenate([np.asarray(embed(images[i:i + bs])) for i in range(0, len(images), bs)])
  labels = test['label']
  result = {'all': embedding_metrics(emb, labels, config.eval, config.seed)}
  if found is not None:
    result['all']['faces_found'] = float(found.sum())
  held = labels >= config.eval.heldout_from
  if held.any() and not held.all():
    result['heldout'] = embedding_metrics(emb[held], labels[held], config.eval, config.seed)
  with open(os.path.join(workdir, 'metrics.json'), 'w') as f:
    json.dump({'preprocess': mode, 'num_images': int(len(labels)), **result}, f, indent=1)
  for name, values in result.items():
    logging.info('%s (%d people): %s', name, len(np.unique(labels[held] if name == 'heldout' else labels)),
                 ', '.join(f'{k} {v:.4f}' for k, v in values.items()))
  draw(images, emb, labels, config.eval, workdir, config.seed)
  return result


def run(config, workdir: str):
  """Trains the embedding (from scratch, or fine-tunes face-api's with init_from='face_api')
  or, with init_from='face_api' and train.steps=0, evaluates face-api's; resumes."""
  if config.init_from == 'face_api' and not config.train.steps:
    return evaluate_pretrained(config, workdir)
  return _supervised.run(FaceEmbedding(config), workdir)

