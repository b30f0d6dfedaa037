r"""Fine-tuning face-api's pretrained dlib network (128-d) with the triplet loss on 30 ORL
people; verification and one-shot recognition on the 10 people it never saw, against the
same network frozen.

Commands:
  python launch.py --config experiments/face_finetune_orl.py --workdir runs/face_finetune_orl
  python launch.py --config experiments/face_finetune_orl.py:frozen --workdir runs/face_frozen_orl

Start: `weights.face_api` through the runner (`FaceEmbedding.pretrained_variables`), every
layer trainable (dlib's affine layers are fixed per-channel maps, no batch statistics).
Inputs: the whole 92x112 photo stretched to 150x150 (`preprocess(..., 'stretch')`, no face
crop). Raw embeddings (no L2 normalisation, as dlib's 0.6 threshold assumes), batch-hard
triplet loss on Euclidean distances, margin 0.2, batches of 6 people x 5 photos, AdamW 3e-5
cosine, 200 steps. ':frozen' evaluates the start point with the same inputs and pairs (no
training). Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events,
config.json, curves.png, roc.png, pairs.png, one_shot.png, embeddings.png.
Time and result on the 2-core CPU: (not measured yet)
`:smoke` is a two-step variant (batch 2 x 2) that the slow tests run.
"""
import os
import runpy

import ml_collections

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_face.py'))


def get_config(arg: str | None = None):
  if arg not in (None, 'frozen', 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing, "frozen" or "smoke".')
  c = _BASE['base']()
  c.model = ml_collections.ConfigDict(dict(name='face_recognition'))  # dlib's, 150x150 in
  c.init_from = 'face_api'
  c.data.preprocess = 'stretch'
  c.loss.update(metric='euclidean', margin=0.2, strategy='batch_hard', l2_normalize=False)
  c.optimizer.update(learning_rate=3e-5, weight_decay=0.0)
  c.train.update(steps=200, log_every=20, eval_every=100, checkpoint_every=100)
  if arg == 'frozen':
    c.train.steps = 0
  if arg == 'smoke':
    c.data.p, c.data.k, c.data.batch_size, c.data.eval_batch_size = 2, 2, 4, 50
    c.eval.episodes = 50
    c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  return c
