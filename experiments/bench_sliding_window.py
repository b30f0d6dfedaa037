r"""Windows per second: naive crop-and-classify vs the convolutional sliding window
(cnn_jax.benchmarks.sliding_window) on the same canvases.

Command:
  python launch.py --config experiments/bench_sliding_window.py [--workdir runs/bench_sw]

Prints one line per case, then a table: compile time, median and p10-p90 per call, items/s
(= windows/s) and the speedup of 'conv' over 'naive' on each canvas; with --workdir it also
writes benchmark.json.
Measured on the 2-core CPU: see the block at the end of this docstring.
`:smoke` times the 56x56 canvas only (the tests run it).
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('sliding_window')
  c.sizes = (56, 128, 256)
  c.naive_batch = 512
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=0)
  if arg == 'smoke':
    c.update(smoke=True, runs=2, warmup=1, min_sample_s=0.0)
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
