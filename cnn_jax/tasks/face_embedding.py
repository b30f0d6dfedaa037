"""Face embeddings: train f(x) with the triplet loss on P x K batches of some identities, and
evaluate verification and one-shot recognition on identities never seen in training.

Data: the ORL / AT&T faces (`data.orl`, 40 people x 10 photos), split by identity: people
0 .. data.train_identities - 1 train, the others test. Config keys: experiments/_face.py.

Training (the supervised runner, tasks/_supervised.py): batches of P identities x K photos
(`data.pk_sampler`), embeddings optionally L2-normalised, `losses.triplet.mined_triplet_loss`
with loss.strategy / metric / margin; logged per step: loss, fraction_active, mean_pos_dist,
mean_neg_dist (a collapse shows as loss = margin with both distances ~0, and is warned about).

Evaluation on the test identities (`metrics.verification`): 1-NN identity accuracy, balanced
pairs in eval.num_folds folds -> accuracy at the threshold chosen on the other folds, ROC AUC,
EER, VAL@FAR eval.far (with the FAR resolution), N-way one-shot accuracy for eval.n_way, and
open-set one-shot accuracy at the mean chosen threshold. Pictures: roc.png, pairs.png,
one_shot.png, embeddings.png.

`init_from='face_api'` with train.steps=0 evaluates face-api's pretrained dlib network
(`weights.face_api`) instead, on every test image: data.preprocess 'pad' | 'stretch' resize
the whole photo (`models.face_recognition.preprocess`), 'mtcnn' crops the face MTCNN finds
(`mtcnn_face_crops`, data.crop_margin); data.train_identities=0 puts all 40 people in the
test split. The runner cannot load these weights (its init_from knows torchvision
files and workdirs), so that path embeds and evaluates here without training.
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
    return load_orl_split(self.config.data.train_identities)

  def build_model(self, dataset):
    kwargs = {k: v for k, v in self.config.model.to_dict().items() if k != 'name'}
    return models.create(self.config.model.name, **kwargs)

  def sampler(self, dataset):
    d = self.config.data
    if d.p * d.k != d.batch_size:
      raise ValueError(f'data.batch_size={d.batch_size} must equal data.p * data.k = {d.p * d.k}.')
    labels = dataset.train.get(np.arange(len(dataset.train)))['label']
    return PKSampler(labels, d.p, d.k, seed=self.config.seed)

  def prepare(self, examples):
    d = self.config.data
    return {'image': prepare_images(examples['image'], d.image_size, 'resize', 3),
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


def mtcnn_face_crops(images: np.ndarray, size: int = 150, margin: float = 0.0,
                     batch: int = 50) -> tuple[np.ndarray, np.ndarray]:
  """Face crops by MTCNN (models.mtcnn_cascade): uint8 [N, H, W, 1|3] -> (float32
  [N, size, size, 3] in [0, 1], found bool [N]).

  The best-scoring face box of each image, squared to side max(w, h) * (1 + margin) about its
  centre, is resampled bilinearly (edge pixels repeated outside the photo); an image with no
  face detected is used whole (resized) and marked found=False. No landmark alignment."""
  from cnn_jax.models import mtcnn
  from cnn_jax.models.mtcnn_cascade import make_detector
  from cnn_jax.weights.mtcnn import load_mtcnn
  rgb = np.repeat(images, 3, -1) if images.shape[-1] == 1 else images
  detect = make_detector(mtcnn.from_keras(load_mtcnn()), batched=True)
  boxes, found = [], []
  for i in range(0, len(rgb), batch):
    faces = jax.device_get(detect(jnp.asarray(rgb[i:i + batch])))
    boxes.append(faces.boxes[:, 0])
    found.append(faces.valid[:, 0])
  boxes, found = np.concatenate(boxes).astype(np.float64), np.concatenate(found)
  h, w = rgb.shape[1:3]
  out = np.empty((len(rgb), size, size, 3), np.float32)
  for n, (img, (x1, y1, x2, y2), ok) in enumerate(zip(rgb.astype(np.float32) / 255, boxes, found)):
    if not ok:
      x1, y1, x2, y2 = 0.0, 0.0, float(w), float(h)
    side = max(x2 - x1, y2 - y1) * (1 + margin if ok else 1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    grid = (np.arange(size) + 0.5) * side / size - side / 2 - 0.5  # pixel centres
    ys, xs = np.clip(cy + grid, 0, h - 1), np.clip(cx + grid, 0, w - 1)
    y0, x0 = np.minimum(ys.astype(int), h - 2), np.minimum(xs.astype(int), w - 2)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x0 + 1] * fx
    bottom = img[y0 + 1][:, x0] * (1 - fx) + img[y0 + 1][:, x0 + 1] * fx
    out[n] = top * (1 - fy) + bottom * fy
  return out, found


def evaluate_pretrained(config, workdir: str) -> dict:
  """face-api's network on the test split: metrics.json + the pictures (no training)."""
  from cnn_jax.models.face_recognition import preprocess
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
    images = np.asarray(preprocess(jnp.asarray(test['image'], jnp.float32) / 255.0, 150, mode))
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
  """Trains the embedding (or evaluates face-api's with init_from='face_api'); resumes."""
  if config.init_from == 'face_api':
    if config.train.steps:
      raise ValueError("init_from='face_api' evaluates the pretrained network only: set "
                       'train.steps=0 (fine-tuning it needs the runner to load these weights).')
    return evaluate_pretrained(config, workdir)
  return _supervised.run(FaceEmbedding(config), workdir)

