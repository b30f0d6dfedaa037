r"""face-api's pretrained face-recognition network (dlib's ResNet, 128-d) on the 400 ORL faces:
1-NN identity accuracy over all 40 people and verification / one-shot on people 30..39.

Commands:
  python launch.py --config experiments/face_pretrained_orl.py --workdir runs/face_pretrained_orl
  python launch.py --config experiments/face_pretrained_orl.py:stretch --workdir runs/face_pre_stretch

No training. Default 'mtcnn': the best face box MTCNN finds in each photo (grey repeated to
RGB), squared, resampled bilinearly to 150x150 (no landmark alignment; of margins 0, 0.2, 0.4,
0.6 tried once on these photos, 0 - the box itself - was best). ':stretch' resizes the whole
92x112 photo to 150x150; ':pad' is face-api's own centred pad-to-square + resize. The weights
come from `npm pack @vladmandic/face-api@1.7.15` once (cached). Produces metrics.json,
roc.png, pairs.png, one_shot.png, embeddings.png in the workdir.
Time and result on the 2-core CPU (measured 2026-11-28, load average ~16 from other jobs):
  mtcnn (21 min 23 s wall, 4 min CPU; almost all of it the MTCNN cascade's compile + run):
    all 40 people: 1-NN 100.0% (400/400 faces found); verification (3,600 pairs, 10 folds)
    97.6% +- 0.8, AUC 0.998, EER 2.2%, VAL 95.8% at FAR 1.0%.
    people 30..39: verification 97.2% +- 2.2 (900 pairs), AUC 0.997, EER 3.6%, VAL 93.1% at
    FAR 1.1% (resolution 2.2%); 5-way one-shot 99.5%, 10-way 99.3%, 5-way open set 92.5%.
  stretch (1 min 30 s wall): all: 1-NN 98.0% (the independent check's figure: 97.75%),
    verification 85.7%; people 30..39: 1-NN 99.0%, verification 83.2%, AUC 0.929.
  pad (face-api's preprocessing, measured with the same code outside the config): 1-NN 97.0%.
"""
import os
import runpy

_BASE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_face.py'))


def get_config(arg: str | None = None):
  if arg not in (None, 'mtcnn', 'pad', 'stretch'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing (= "mtcnn"), "pad" or '
                     '"stretch".')
  c = _BASE['base']()
  c.model = c.model.__class__(dict(name='face_recognition'))
  c.init_from = 'face_api'
  c.data.train_identities = 0  # all 40 people are test people
  c.data.preprocess = arg or 'mtcnn'
  c.train.steps = 0
  return c
