r"""Sliding windows, naive and convolutional: a 28x28 digit-vs-background window classifier
trained on canvas windows, then slid over test canvases both ways.

Command:
  python launch.py --config experiments/sliding_window.py --workdir runs/sliding_window

Produces in the workdir: checkpoints/, metrics.jsonl, config.json, curves.png, confusion.png,
predictions.png, heatmap.png (P(digit) per window + detections on a 96x128 test canvas),
sliding_window.json (per canvas: max |naive - convolutional| gap, seconds and windows/s of
each, digits found).
Time and result on the 2-core CPU (measured 2026-11-28, 8 sessions sharing the cores, load
12-17): 8 min 41 s wall for the whole command (1,500 steps of batch 128; 9,081 train windows:
3,081 digits + 6,000 background, 1,819 test windows). Test window accuracy 97.5% (11
classes). Demo on 4 test canvases of 96x128 (18x26 = 468 windows each): max |naive -
convolutional| logit gap 0.0 (bit-identical), naive 127-172 ms vs convolutional 11-14 ms per
canvas (2,700-3,700 vs 34,000-43,000 windows/s, median speed-up 11.5x); 13 of 14 digits found
(right class, ink box >= 90% inside a detection window), 1 false positive.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_sliding_window.py'))
_SMOKE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))['smoke']


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.loss.label_smoothing = 0.0
  c.optimizer.update(name='adamw', learning_rate=2e-3, weight_decay=1e-4)
  c.schedule.update(name='cosine', warmup_steps=50)
  c.train.update(steps=1500, log_every=50, eval_every=500, checkpoint_every=500)
  if arg == 'smoke':
    _SMOKE(c, batch=16, steps=4)
    c.windows.update(train_canvases=40, test_canvases=10)
    c.demo.update(size=(40, 48), objects=(1, 1), canvases=1, repeats=1, naive_batch=8)
  return c
