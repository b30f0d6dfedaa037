r"""YOLO post-process vs torchvision, inference and train-step throughput (cnn_jax.benchmarks.yolo).

Command:
  python launch.py --config experiments/bench_yolo.py [--workdir runs/bench_yolo]

Reference timings (torch decode + torchvision.ops.batched_nms per image, 2 threads) come from
  python cnn_jax/benchmarks/_yolo_reference.py --out benchmarks/torch_results/yolo.json
run in a throwaway venv with torch==2.14.1 torchvision==0.29.1, and join the table as impl
'reference'. Prints compile time, median per call and items/s (images) per case.
Measured: not yet on a quiet machine in this session (see the README's YOLO section).
`:smoke` is the tiny variant the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('yolo')
  c.batch = 32
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=0, baseline='reference',
           external=('benchmarks/torch_results/yolo.json',))
  if arg == 'smoke':
    c.update(smoke=True, batch=2, runs=2, warmup=1, min_sample_s=0.0, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
