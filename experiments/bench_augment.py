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
import ml_collections

from cnn_jax.benchmarks.augment import SPECS


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'benchmark'
  c.suite = 'augment'
  c.workloads = ('lenet5', 'resnet18')
  c.specs = ml_collections.ConfigDict(SPECS)   # {workload: {label: spec}}
  c.batch = ml_collections.ConfigDict(dict(lenet5=256, resnet18=16))
  c.smoke = False
  c.runs = 15
  c.warmup = 2
  c.min_sample_s = 0.05
  c.peak_n = 0
  c.baseline = 'none'
  if arg == 'smoke':
    c.smoke = True
    c.runs = 2
    c.warmup = 1
    c.min_sample_s = 0.0
    c.workloads = ('lenet5',)
    c.specs = ml_collections.ConfigDict(dict(lenet5=dict(none='', shift=SPECS['lenet5']['shift'])))
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
