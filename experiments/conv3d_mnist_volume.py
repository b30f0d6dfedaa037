r"""The 3-D convnet (models/conv3d.py) on 16x16x16 volumes: each real digit extruded through a
random slab (data/nd_digits.py, a stand-in: no labelled volumes ship offline; docs/conv1d3d.md).

Command:
  python launch.py --config experiments/conv3d_mnist_volume.py --workdir runs/conv3d_mnist_volume
Widths (8, 16, 32) (Conv3DNet's default is (16, 32, 64)), batch 32, AdamW lr 3e-3, weight
decay 0.05, 50-step warmup then cosine over 400 steps (3-D convs are costly on 2 CPU cores).
Measured 2026-11-28 on the 2-core CPU (shared, load ~16): test accuracy 78.4% (loss 0.862,
top-5 97.4%) on the 1,000 test volumes after 400 steps, 293 s wall for the whole command
(59 volumes/s in training); still rising (train batches ~72% at step 280): a short run, not
a converged one. `:smoke` is the tests' variant.
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
  c.model = ml_collections.ConfigDict(dict(name='conv3d', num_classes=10, widths=(8, 16, 32),
                                           kernel=3))
  c.data.update(name='mnist_volume', batch_size=32, eval_batch_size=500)
  c.optimizer.update(name='adamw', learning_rate=3e-3, weight_decay=0.05)
  c.schedule.update(name='cosine', warmup_steps=50)
  c.train.update(steps=400, log_every=50, eval_every=400, checkpoint_every=400)
  if arg == 'smoke':
    c.model.widths = (4, 8)
    _FAMILY['smoke'](c)
  return c
