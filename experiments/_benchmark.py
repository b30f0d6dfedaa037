r"""The benchmark family's base config (not an experiment): every key tasks/benchmark.py
reads, with its default. Each bench_* experiment derives from `base(suite)` and adds its
suite's own keys (cnn_jax/benchmarks/<suite>.py documents them).

Sequence-valued keys are tuples, so the command line can override them, e.g.
  --config.models="('resnet18','mobilenet_v2')"  --config.external="('my_torch.json',)"
"""
import ml_collections


def base(suite: str) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'benchmark'
  c.suite = suite          # module name under cnn_jax.benchmarks
  c.smoke = False          # the suite's tiny variant (the tests run it)
  c.runs = 20              # timing samples per case (cnn_jax.bench.time_compiled)
  c.warmup = 2             # untimed calls before sampling
  c.min_sample_s = 0.02    # calls per sample grow until one sample lasts this long
  c.peak_n = 2048          # square matmul that measures the machine's peak; 0 = skip
  c.baseline = ''          # impl that speedups are relative to; '' = the suite's BASELINE
  c.compare = ''           # second impl to show time ratios against; '' = the suite's COMPARE
  c.external = ()          # JSON results (bench.write_json format, e.g. PyTorch's) to join
  return c
