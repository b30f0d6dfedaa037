r"""LeNet-5 training throughput: bare jitted step vs the whole loop, and vs PyTorch eager.

Command:
  python launch.py --config experiments/bench_train_lenet5.py [--workdir runs/bench_train_lenet5]

Prints one block 'lenet5 train b256' with rows 'bare step' (the jitted step on a resident
batch), 'full loop' (train.loop.fit on real MNIST: grain pipeline, transfers, NaN checks,
metrics, TensorBoard, progress bar) and, when benchmarks/torch_results/train_lenet5.json
exists (made in a throwaway venv by benchmarks/torch_lenet5_train.py), PyTorch's eager
step and loop. Time and result on the 2-core CPU: see the README's benchmark section.
`:smoke` is the tests' tiny variant.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('train_lenet5')
  c.batch = 256
  c.loop_steps = 400
  c.loop_log_every = 50
  c.update(runs=20, warmup=3, min_sample_s=0.0, peak_n=0, baseline='bare step',
           compare='torch step', external=('benchmarks/torch_results/train_lenet5.json',))
  if arg == 'smoke':
    c.update(batch=16, loop_steps=12, loop_log_every=4, runs=2, warmup=1, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
