r"""LeNet-5 on scikit-learn's 1,797 8x8 digits, resized to 32x32 (1,433 train / 364 test).

Command:
  python launch.py --config experiments/lenet5_digits.py --workdir runs/lenet5_digits

Produces the same workdir files as lenet5_mnist. Time and result on the 2-core CPU
(measured 2026-11-28, quiet, convs chosen by the autotuner): test accuracy 100% (loss 0.131)
on 364 digits, 28 s wall (earlier, with lax.conv and other jobs sharing the cores: 99.7%,
38 s). `:smoke` is the few-step variant the tests run.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  c.data.update(name='digits', resize='resize', batch_size=64, eval_batch_size=128)
  if arg != 'smoke':
    c.train.update(steps=800, eval_every=400, checkpoint_every=400)
  return c
