r"""LeNet-5 on Fashion-MNIST (60,000 / 10,000), from Debian's dataset-fashion-mnist IDX files.

Needs `apt-get install dataset-fashion-mnist` (or --config.data.dir=<folder with the four
IDX .gz files>); without it the run stops with an error saying so.
Command:
  python launch.py --config experiments/lenet5_fashion_mnist.py --workdir runs/lenet5_fashion_mnist

Time and result on the 2-core CPU (measured, other jobs sharing the cores): test accuracy
91.4% on the 10,000 test images after 4,000 steps of 256, 624 s wall.
`:smoke` is the tests' variant.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  c.data.update(name='fashion_mnist', eval_batch_size=1000)
  if arg == 'smoke':
    c.data.eval_batch_size = 20
  else:
    c.data.batch_size = 256
    c.train.update(steps=4000, log_every=100, eval_every=1000, checkpoint_every=1000)
  return c
