r"""A small dlib-style ResNet trained from scratch with the triplet loss on 30 ORL people;
verification and one-shot recognition on the 10 people it never saw.

Command:
  python launch.py --config experiments/face_triplet_orl.py --workdir runs/face_triplet_orl

Model: FaceRecognitionNet(widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), norm='batch') ->
64-d, L2-normalised; ORL photos resized to 150x150. Batches of 6 people x 5 photos (P x K),
batch-hard triplet loss on squared distances, margin 0.2, AdamW 1e-3 cosine, 600 steps.
Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events, config.json,
curves.png, roc.png, pairs.png, one_shot.png, embeddings.png.
Time and result on the 2-core CPU (measured 2026-11-28, seed 0, load average ~13 from other
jobs): 17 min 40 s wall (3 min 42 s of CPU time for this process), of which ~3 min of
compiles (init, train step) and then 1.4 s/step. On the 10 people never seen in training
(100 photos):
  1-NN identity accuracy 98.0%; verification (900 balanced pairs, 10 folds) 86.6% +- 3.4,
  AUC 0.941, EER 13.6%, VAL 64.2% at FAR 1.3% (target 1%; one false accept = 2.2% of a test
  fold); 5-way one-shot 85.6%, 10-way 76.2%, 5-way open set (threshold from the folds) 69.8%.
  (Step 300: 1-NN 97.0%, verification 84.8%.) face-api's pretrained 128-d net on the same
  10 people: whole photos 1-NN 99.0%, verification 83.2%; MTCNN face crops 100% and 97.2%
  (experiments/face_pretrained_orl.py).
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_face.py'))


def get_config(arg: str | None = None):
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _BASE['base']()
  if arg == 'smoke':
    c.model.widths, c.model.blocks, c.model.embedding_dim = (4, 8, 12, 16), (0, 0, 0, 0), 8
    c.data.image_size, c.data.p, c.data.k, c.data.batch_size = 136, 4, 2, 8
    c.eval.episodes = 50
    c.train.update(steps=3, log_every=1, eval_every=3, checkpoint_every=3)
  return c
