r"""Test-time multi-crop and ensembles of LeNet-5 on MNIST (course §2.4.4; docs/test_time.md).

Measures trained lenet5_mnist runs; train them first (600 steps each, seeds 0, 1, 2):
  for s in 0 1 2; do python launch.py --config experiments/lenet5_mnist.py --config.seed=$s \
    --config.train.steps=600 --config.train.eval_every=600 --config.train.checkpoint_every=600 \
    --workdir runs/tta/seed$s; done
Command:
  python launch.py --config experiments/test_time_mnist.py
Prints the table of docs/test_time.md (single model, flip, five_crop, ten_crop, ensemble;
accuracy, loss, eval seconds, x single). Measured 2026-11-28 on the 2-core CPU (shared):
59 s wall; 97.30% single (mean of 3), flip 93.77%, five_crop 97.30%, ten_crop 91.20%,
ensemble of 3 98.00% at 3.5x the single model's eval time. Other workdirs:
  --config.eval.ensemble="('runs/a', 'runs/b')"
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg is not None:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing.')
  c = _RECIPE['recipe'](False)
  c.task = 'test_time'
  c.eval.update(crop_border=2, ensemble=tuple(f'runs/tta/seed{s}' for s in range(3)))
  return c
