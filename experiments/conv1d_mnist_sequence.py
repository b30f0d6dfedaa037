r"""The 1-D convnet (models/conv1d.py) on sequential MNIST: each real digit read as 784 pixels
(data/nd_digits.py, a stand-in: no labelled 1-D signal ships offline; docs/conv1d3d.md).

Command:
  python launch.py --config experiments/conv1d_mnist_sequence.py --workdir runs/conv1d_mnist_sequence
Batch 64, AdamW lr 3e-3, weight decay 0.05, 50-step warmup then cosine over 1,000 steps.
Measured 2026-11-28 on the 2-core CPU (shared, load ~16): test accuracy 93.7% (loss 0.195)
on the 1,000 test sequences after 1,000 steps, 128 s wall for the whole command (623
sequences/s in training; train batches ~99%: 4,000 sequences overfit). `:smoke` is the tests' variant.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.task = 'classification_nd'
  c.model = ml_collections.ConfigDict(dict(name='conv1d', num_classes=10, widths=(32, 64, 128),
                                           kernel=7, stem_stride=4))
  c.data.update(name='mnist_sequence', batch_size=64, eval_batch_size=500)
  c.optimizer.update(name='adamw', learning_rate=3e-3, weight_decay=0.05)
  c.schedule.update(name='cosine', warmup_steps=50)
  c.train.update(steps=1000, log_every=50, eval_every=500, checkpoint_every=500)
  if arg == 'smoke':
    c.model.widths = (8, 16)
    _FAMILY['smoke'](c)
  return c
