r"""YOLO post-process vs torchvision, inference and train-step throughput (cnn_jax.benchmarks.yolo).

Command:
  python launch.py --config experiments/bench_yolo.py [--workdir runs/bench_yolo]

Reference timings (torch decode + torchvision.ops.batched_nms per image, 2 threads) come from
  python cnn_jax/benchmarks/_yolo_reference.py --out benchmarks/torch_results/yolo.json
run in a throwaway venv with torch==2.14.1 torchvision==0.29.1, and join the table as impl
'reference'. Prints compile time, median per call and items/s (images) per case.
Measured 2026-11-28 12:40 UTC under `heavy --exclusive` (2-core AMD EPYC, load average 2.3
at start; reference JSON with its machine in benchmarks/torch_results/yolo.json), median of 10:
  post-process 32 images x 12x12x5 boxes, 10 classes (score > 0.005, IoU 0.5, top 100):
    cnn_jax 7.17 ms (p10-p90 6.81-7.42) vs torch decode + torchvision batched_nms 40.45 ms
    (38.98-41.55): 5.6x. (With ops.nms.batched_nms vmapped, before the early-exit scan of
    ops.yolo.top_k_per_class_nms: 51.0 ms vs 41.6 ms, 0.81x, load 2.4.)
  inference (DarknetSmall 16/32/64 + head + post-process) 32x96x96: 27.7 ms, 1,156 img/s.
  train step (loss + gradient + AdamW) 32x96x96: 241.6 ms, 132 img/s.
Compile 0.8 / 2.0 / 1.1 s (the persistent cache held the model parts; cold, the train step
compiled in 17.2 s).
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
