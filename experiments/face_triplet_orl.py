r"""A small dlib-style ResNet trained from scratch with the triplet loss on 30 ORL people;
verification and one-shot recognition on the 10 people it never saw.

Command:
  python launch.py --config experiments/face_triplet_orl.py --workdir runs/face_triplet_orl

Model: FaceRecognitionNet(widths=(16, 32, 64, 128), blocks=(1, 1, 1, 1), norm='batch') ->
64-d, L2-normalised; ORL photos resized to 150x150. Batches of 6 people x 5 photos (P x K),
batch-hard triplet loss on squared distances, margin 0.2, AdamW 1e-3 cosine, 600 steps.
Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events, config.json,
curves.png, roc.png, pairs.png, one_shot.png, embeddings.png.
Time and result: see RESULT below (measured here).
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
