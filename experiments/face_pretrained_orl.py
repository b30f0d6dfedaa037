r"""face-api's pretrained face-recognition network (dlib's ResNet, 128-d) on the 400 ORL faces:
1-NN identity accuracy over all 40 people and verification / one-shot on people 30..39.

Command:
  python launch.py --config experiments/face_pretrained_orl.py --workdir runs/face_pretrained_orl

No training and no alignment: each 92x112 grey photo is repeated to RGB and resized to
150x150 (data.preprocess 'stretch'; 'pad' is face-api's own pad-to-square). The weights come
from `npm pack @vladmandic/face-api@1.7.15` once (cached). Produces metrics.json, roc.png,
pairs.png, one_shot.png, embeddings.png in the workdir.
Time and result: see RESULT below (measured here).
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_face.py'))


def get_config(arg: str | None = None):
  if arg not in (None, 'pad', 'stretch'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing, "pad" or "stretch".')
  c = _BASE['base']()
  c.model = c.model.__class__(dict(name='face_recognition'))
  c.init_from = 'face_api'
  c.data.train_identities = 0  # all 40 people are test people
  c.data.preprocess = arg or 'stretch'
  c.train.steps = 0
  return c
