r"""The sliding-window family's base config (not an experiment): every key that
tasks/sliding_window.py and the supervised runner read, with its default. It extends the
classification family's base (the task is classification of 28x28 windows, plus a demo).
"""
import os
import runpy

import ml_collections

_CLASSIFICATION = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))


def base() -> ml_collections.ConfigDict:
  c = _CLASSIFICATION['base']()
  c.task = 'sliding_window'
  # models.sliding_window.WindowClassifier (built by the task, not the registry).
  c.model = ml_collections.ConfigDict(dict(
      name='window_classifier', features=(16, 32), hidden=128, padding='VALID'))
  c.data.update(name='windows', image_size=28, channels=1, batch_size=128, eval_batch_size=500)
  # data.windows: windows cut from canvases of train / test digits.
  c.windows = ml_collections.ConfigDict(dict(
      train_canvases=3000, test_canvases=600, negatives=2))
  # The end-of-run demo on test canvases (tasks/sliding_window.py).
  c.demo = ml_collections.ConfigDict(dict(
      size=(96, 128), objects=(2, 5), canvases=4, repeats=5, naive_batch=512, threshold=0.9,
      nms_iou=0.2))
  return c
