r"""Soak: 10,000 steps of lenet5_mnist with the process's resident memory sampled every 500 steps.

Command (a benchmark, not a test; ~10 min on the 2-core CPU):
  python experiments/bench_soak.py [--workdir runs/soak] [--steps 10000] [--every 500]

The run is the real one (`tasks.classification.run` on the lenet5_mnist recipe: grain
pipeline, host batches, jitted step, metrics, NaN checks, evaluation and a checkpoint every
2,000 steps); the metric writer also reads VmRSS from /proc/self/status each time it logs
(every `--every` steps). Warm-up: until every code path has run once: 1,000 steps and the
first evaluation and checkpoint (step 2,000: the eval program's compile, orbax's writer
threads, the eval pipeline); the figure is the growth from the first sample after it (step
2,500) to the last one, which must stay under 5% (exit status 1 otherwise). It prints the
series, the growth from step 1,000 too, and the summary.

Measured 2026-11-28 on the shared 2-core CPU (load average 2.5 at the start, other jobs
sharing the cores; 575 s for the 10,000 steps, test accuracy 97.9%):
  step   500 1000 1500 2000 | 2500 3000 3500 4000 4500 ... 6000 6500 ... 8000 8500 ... 10000
  MiB    584  584  584  584 |  620  620  620  620  625 ...  625  625 ...  625  626 ...   626
  After warm-up (step 2,500 -> 10,000): 619.5 -> 626.1 MiB, growth +1.07% (limit 5%).
  From step 1,000 instead: 584.1 -> 626.1 MiB, +7.2%: +35.4 MiB arrive at the first
  evaluation + checkpoint (one-time), then +5.0 at the second, +0.5 and +0.9 at the third
  and fourth: shrinking steps (allocator and thread-pool growth settling), not a per-step or
  per-evaluation leak.

`python launch.py --config experiments/bench_soak.py` trains the same config without the
RSS samples; `:smoke` is a 40-step variant.
"""
import argparse
import os
import runpy
import sys
import tempfile
import time

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))
WARMUP_STEPS = 1000
LIMIT = 0.05


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """lenet5_mnist's recipe at 10,000 steps, logging every 500 (the RSS sampling period)."""
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](False)
  steps, every = (40, 10) if arg == 'smoke' else (10_000, 500)
  c.train.update(steps=steps, log_every=every, eval_every=steps // 5, checkpoint_every=steps // 5)
  return c


def rss_mib() -> float:
  """The resident set size of this process now (VmRSS), MiB."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith('VmRSS:'):
        return int(line.split()[1]) / 1024
  raise RuntimeError('no VmRSS in /proc/self/status (Linux only)')


def soak(config, workdir: str) -> list[tuple[int, float, float]]:
  """Runs `config` in `workdir`; returns [(step, RSS MiB, seconds since start)] per log."""
  from cnn_jax.tasks import _supervised, classification
  samples, t0 = [], time.perf_counter()

  class SamplingWriter(_supervised.MetricWriter):
    def write_scalars(self, step, scalars):
      super().write_scalars(step, scalars)
      if any(k.startswith('train/') for k in scalars):
        samples.append((int(step), rss_mib(), time.perf_counter() - t0))
        print(f'step {step:6d}  RSS {samples[-1][1]:8.1f} MiB  {samples[-1][2]:7.1f} s', flush=True)

  _supervised.MetricWriter = SamplingWriter
  classification.run(config, workdir)
  return samples


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='')
  parser.add_argument('--steps', type=int, default=10_000)
  parser.add_argument('--every', type=int, default=500)
  args = parser.parse_args()
  config = get_config()
  config.train.update(steps=args.steps, log_every=args.every)
  workdir = args.workdir or tempfile.mkdtemp(prefix='soak_')
  samples = soak(config, workdir)
  # warm-up: WARMUP_STEPS and the first evaluation + checkpoint (sampled before they run)
  warm = max(WARMUP_STEPS, config.train.eval_every, config.train.checkpoint_every)
  after = [s for s in samples if s[0] > min(warm, samples[-2][0] if len(samples) > 1 else 0)]
  early = [s for s in samples if s[0] >= min(WARMUP_STEPS, samples[-1][0])][0]
  base, last = after[0][1], after[-1][1]
  growth = (last - base) / base
  print(f'RSS at step {after[0][0]}: {base:.1f} MiB; at step {after[-1][0]}: {last:.1f} MiB; '
        f'min {min(s[1] for s in after):.1f}, max {max(s[1] for s in after):.1f} MiB after '
        f'warm-up; growth {100 * growth:+.2f}% (limit {100 * LIMIT:.0f}%); from step '
        f'{early[0]}: {100 * (last - early[1]) / early[1]:+.2f}%; '
        f'{samples[-1][2]:.0f} s for {samples[-1][0]} steps.')
  return 0 if growth < LIMIT else 1


if __name__ == '__main__':
  sys.exit(main())
