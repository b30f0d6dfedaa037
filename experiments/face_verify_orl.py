r"""Face verification as binary classification: a Siamese small ResNet with one logistic unit
on |f(x1) - f(x2)|, trained from scratch on pairs of 30 ORL people; verification on the 10
people it never saw.

Commands:
  python launch.py --config experiments/face_verify_orl.py --workdir runs/face_verify_orl
  python launch.py --config experiments/face_verify_orl.py:chi2 --workdir runs/face_verify_chi2

Model: SiameseVerifier(FaceRecognitionNet(widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1),
norm='batch') -> 64-d, logistic unit) - the same embedding net as
experiments/face_triplet_orl.py; ':chi2' uses DeepFace's chi^2 terms
(f1 - f2)^2 / (f1 + f2) on relu(f) instead of |f1 - f2|. Batches of 16 pairs, half same
person (tasks/face_verify.py), binary cross-entropy, AdamW 1e-3 cosine, 600 steps (the
triplet run's schedule, ~the same photos per step: 32 vs 30).
Evaluation: the 900 balanced pairs of the 10 held-out people in 10 folds (the pairs
face_triplet_orl evaluates), scored by the head (d = -logit), and the 64-d embedding alone.
Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events, config.json,
curves.png, roc.png, pairs.png, embeddings.png.
Time and result on the 2-core CPU (measured 2026-11-28, seed 0, load average 4.1 at the start,
4.3 at the end, from other jobs): 5 min 3 s wall (3 min 14 s CPU), ~2 steps/s after a 16 s
first step. On the 10 people never seen in training (900 pairs, 10 folds):
  logistic head (d = -logit): verification 82.8% +- 2.8, AUC 0.907, EER 16.4%, VAL 9.8% at
  FAR 1.1% (resolution 2.2%; step 300: 81.3%, AUC 0.878);
  its 64-d embedding alone (Euclidean): verification 84.9% +- 3.6, AUC 0.914, EER 16.4%,
  VAL 50.0% at FAR 1.3%, 1-NN 90.0%, 5-way one-shot 79.6%, 10-way 68.4%.
:chi2 (4 min 9 s wall, load ~4.4): head 76.3% +- 4.0, AUC 0.816, EER 23.1%; embedding
  alone 76.9%, AUC 0.860, 1-NN 89.0%, 5-way 68.7% - worse than |f1 - f2| here (the ReLU
  leaves fewer active features and the ratio is noisy near f1 + f2 = 0).
On the training pairs at step 600: accuracy 97%, BCE 0.11, mean logit +2.6 (same) / -9.2
(different). The same network and schedule trained with the batch-hard triplet loss
(experiments/face_triplet_orl.py) does better on every held-out figure (86.6%, AUC 0.941,
1-NN 98.0%, 5-way 85.6%): random balanced pairs carry less signal per batch than the
hardest triplets of a P x K batch, and the head overfits the 30 people.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_face.py'))


def get_config(arg: str | None = None):
  if arg not in (None, 'chi2', 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing, "chi2" or "smoke".')
  c = _BASE['base']()
  c.task = 'face_verify'
  c.model.similarity = 'chi2' if arg == 'chi2' else 'abs'
  c.data.batch_size = 16       # pairs per step (8 same-person, 8 different)
  c.data.eval_batch_size = 100  # pairs per eval batch
  c.train.update(steps=600, log_every=50, eval_every=300, checkpoint_every=300)
  if arg == 'smoke':
    c.model.widths, c.model.blocks, c.model.embedding_dim = (4, 8, 12, 16), (0, 0, 0, 0), 8
    c.data.image_size, c.data.batch_size = 136, 4
    c.eval.episodes = 50
    c.train.update(steps=3, log_every=1, eval_every=3, checkpoint_every=3)
  return c
