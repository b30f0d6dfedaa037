"""Face verification as binary classification (the course; DeepFace, Koch et al.): a Siamese
embedding f shared by both faces and one logistic unit on phi(f(x1), f(x2)),

    y_hat = sigmoid(sum_k w_k |f_k(x1) - f_k(x2)| + b)     (model.similarity='abs'; 'chi2' =
                                                            DeepFace's chi^2 terms)
trained with binary cross-entropy on pairs of the training people (`models.siamese`).

Data: ORL (`data.orl`) or LFW (`data.lfw`) split by person as in tasks/face_embedding.py
(`load_faces`). Train examples are the
pairs of the training people's photos (`data.pairs.PairSplit`, a batch = data.batch_size
pairs, half same-person, drawn by `BalancedPairSampler`); the test examples are the balanced
pairs of the held-out people in eval.num_folds folds (`metrics.verification.make_pairs`, the
same pairs face_embedding evaluates).

Evaluation on the held-out people: the pairs protocol on the score d = -logit (threshold
chosen on 9 folds, tested on the 10th): accuracy, ROC AUC, EER, VAL@FAR; and the shared
embedding f alone (`face_embedding.embedding_metrics` with eval.metric): 1-NN identity
accuracy, distance-threshold verification, one-shot. Logged per train step: loss (BCE),
accuracy. Pictures: roc.png, pairs.png (hardest pairs by the head's score), embeddings.png.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn_jax import models
from cnn_jax.data.pairs import BalancedPairSampler, PairSplit
from cnn_jax.metrics import verification as ver
from cnn_jax.models.siamese import SiameseVerifier
from cnn_jax.tasks import _supervised
from cnn_jax.tasks.face_embedding import embedding_metrics, load_faces, prepare_faces


def pair_dataset(config):
  """ORL people split -> Dataset of PairSplits: train = all pairs of the training photos,
  test = `make_pairs` of the held-out photos (eval.num_folds folds, seed config.seed)."""
  faces = load_faces(config)
  train, test = faces.train, faces.test
  pairs, _, folds = ver.make_pairs(test.labels, config.eval.num_folds, config.seed)
  return faces.__class__(f'{faces.name}_pairs', PairSplit(train.images, train.labels),
                         PairSplit(test.images, test.labels, pairs, folds), faces.num_classes,
                         faces.class_names)


class _PairScores:
  """Accumulator: logits, same and fold of the real (unpadded) test pairs -> the k-fold
  verification figures on d = -logit."""

  def __init__(self, cfg):
    self.cfg, self.logits, self.same, self.fold = cfg, [], [], []

  def update(self, outputs, batch):
    keep = batch['mask'] > 0
    self.logits.append(outputs[keep])
    self.same.append(batch['same'][keep])
    self.fold.append(batch['fold'][keep])

  def result(self):
    d = -np.concatenate(self.logits).astype(np.float64)
    same, fold = np.concatenate(self.same).astype(bool), np.concatenate(self.fold)
    kf = ver.kfold_verification(d, same, fold)
    val = ver.val_at_far(d, same, fold, self.cfg.far)
    return {'verification_accuracy': kf.accuracy, 'verification_std': kf.std,
            'auc': ver.roc_auc(d, same), 'eer': ver.equal_error_rate(d, same),
            'val': val.val, 'far': val.far, 'far_resolution': val.far_resolution,
            'num_pairs': float(len(same)), 'pair_scores': d, 'pair_same': same}


class FaceVerify(_supervised.Task):
  """Siamese logistic verification trained on balanced pairs (module doc)."""
  unit, progress = 'pair', ('loss', 'accuracy')

  def load_data(self):
    return pair_dataset(self.config)

  def build_model(self, dataset):
    m = self.config.model
    kwargs = {k: v for k, v in m.to_dict().items() if k not in ('name', 'similarity')}
    return SiameseVerifier(models.create(m.name, **kwargs), m.similarity)

  def sampler(self, dataset):
    return BalancedPairSampler(dataset.train.labels, self.config.data.batch_size, self.config.seed)

  def prepare(self, examples):
    image = examples['image']  # uint8 [B, 2, H, W, C]
    flat = prepare_faces(image.reshape(-1, *image.shape[2:]), self.config.data)
    return {'image': flat.reshape(len(image), 2, *flat.shape[1:]),
            'same': examples['same'].astype(np.int32), 'fold': examples['fold']}

  def objective(self, outputs, batch):
    same = batch['same'].astype(outputs.dtype)
    loss = jnp.mean(optax.sigmoid_binary_cross_entropy(outputs, same))
    return loss, {'accuracy': jnp.mean((outputs > 0) == (same > 0)),
                  'mean_logit_same': jnp.sum(outputs * same) / jnp.maximum(jnp.sum(same), 1),
                  'mean_logit_diff': jnp.sum(outputs * (1 - same)) / jnp.maximum(jnp.sum(1 - same), 1)}

  def embed_test(self, run, state) -> np.ndarray:
    """The shared embedding f of every held-out photo (eval mode): [N, D]."""
    test = run.dataset.test
    images = prepare_faces(test.images[np.arange(len(test.labels))], self.config.data)
    params, model_state = jax.device_get((state.params, state.model_state))
    fn = jax.jit(lambda v, x: run.model.apply(v, x, method='embed'))
    bs = self.config.data.eval_batch_size
    return np.concatenate([np.asarray(fn({'params': params, **model_state}, images[i:i + bs]))
                           for i in range(0, len(images), bs)])

  def evaluators(self, run):
    cfg, seed = self.config.eval, self.config.seed

    def embedding(state):  # the embedding alone, thresholded distances (no head)
      out = embedding_metrics(self.embed_test(run, state), run.dataset.test.labels, cfg, seed)
      return {f'embedding_{k}': v for k, v in out.items() if k != 'num_pairs'}

    return {'pairs': run.accumulate(lambda out, b: out, lambda: _PairScores(cfg),
                                    batch_keys=('same', 'fold', 'mask')),
            'embedding': embedding}

  def pictures(self, run, state, evaluation):
    import os
    from cnn_jax.viz import faces as viz
    test = run.dataset.test
    d, same = evaluation['pair_scores'], evaluation['pair_same']
    fpr, tpr, thr = ver.roc_curve(d, same)
    threshold = float(thr[int(np.argmax(ver.rates(d, same, thr)[2]))])
    images = prepare_faces(test.images[np.arange(len(test.labels))], self.config.data)
    emb = self.embed_test(run, state)
    return {'roc': viz.plot_roc(fpr, tpr, evaluation['auc'], evaluation['eer'],
                                os.path.join(run.workdir, 'roc.png'), 'logistic head'),
            'pairs': viz.plot_pairs(images, test.pairs, same, d, threshold,
                                    os.path.join(run.workdir, 'pairs.png')),
            'embeddings': viz.plot_embedding_2d(emb, test.labels,
                                                os.path.join(run.workdir, 'embeddings.png'))}


def run(config, workdir: str):
  """Trains the Siamese verifier on pairs of the training people; resumes in `workdir`."""
  return _supervised.run(FaceVerify(config), workdir)
