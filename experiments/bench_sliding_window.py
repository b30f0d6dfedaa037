r"""Windows per second: naive crop-and-classify vs the convolutional sliding window
(cnn_jax.benchmarks.sliding_window) on the same canvases.

Command:
  python launch.py --config experiments/bench_sliding_window.py [--workdir runs/bench_sw]

Prints one line per case, then a table: compile time, median and p10-p90 per call, items/s
(= windows/s) and the speedup of 'conv' over 'naive' on each canvas; with --workdir it also
writes benchmark.json.
Measured on the 2-core CPU (2026-11-28, 8 sessions sharing it, load 14-17: +-50% noise;
~80 s for the command), convolutional vs naive on the same canvas, windows/s:
  56x56, 8x8 = 64 windows:   conv 5.4 ms (11,900 windows/s) vs naive 36 ms (1,770/s): 6.7x
  128x128, 26x26 = 676:      conv 22 ms (30,300/s) vs naive 391 ms (1,730/s): 17.5x
  256x256, 58x58 = 3,364:    conv 97 ms (34,800/s) vs naive 1,670 ms (2,010/s): 17.3x
  (an earlier run, load 14.5: 56.3x / 19.1x / 19.4x, with naive then padding 64 windows to a
  batch of 512, since fixed).
One 28x28 window costs 0.14-0.85 ms (two runs), so 64 windows convolutionally cost 6-32x one
window on this CPU: Caffe's "64 outputs for 3x the time" was on a GPU, where one window
leaves most of the device idle; on 2 CPU cores one window already keeps them fairly busy.
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
