r"""What on-device augmentation costs inside a jitted train step (cnn_jax.benchmarks.augment).

Command:
  python launch.py --config experiments/bench_augment.py [--workdir runs/bench_augment]

Times one SGD train step of LeNet-5 (batch 256, 32x32x1) and ResNet-18 (CIFAR stem, batch
16, 32x32x3) without augmentation ('none') and with ops.augment specs applied to the batch
inside the same jitted step, and the batch augmentation alone ('augment only' rows).
Overhead = 1 / (the "vs none" column) - 1, or augment-only time / 'none' step time;
the issue's goal is < 10%. With --workdir it also writes benchmark.json.
Time and result on the 2-core CPU (loaded): ~4.5 min; the augmentation costs 4.4% of a
LeNet-5 step for pad_crop|rotate|elastic, < 0.1% for the other specs (docs/augment.md).
`:smoke` is a tiny variant (LeNet-5 only, batch 4, 2 runs) that the tests run.
"""
import os
import runpy

import ml_collections

from cnn_jax.benchmarks.augment import SPECS

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('augment')
  c.workloads = ('lenet5', 'resnet18')
  c.specs = ml_collections.ConfigDict(SPECS)   # {workload: {label: spec}}
  c.batch = ml_collections.ConfigDict(dict(lenet5=256, resnet18=16))
  c.update(runs=15, warmup=2, min_sample_s=0.05, peak_n=0, baseline='none')
  if arg == 'smoke':
    c.update(smoke=True, runs=2, warmup=1, min_sample_s=0.0, workloads=('lenet5',))
    c.specs = ml_collections.ConfigDict(dict(lenet5=dict(none='', shift=SPECS['lenet5']['shift'])))
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
