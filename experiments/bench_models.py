r"""Zoo training steps side by side (cnn_jax.benchmarks.models): img/s, compile, memory.

Command:
  python launch.py --config experiments/bench_models.py [--workdir runs/bench_models]
  python launch.py --config experiments/bench_models.py --config.impls="('xla','taps','im2col')" \
      --config.models="('resnet18','mobilenet_v2')"
  python launch.py --config experiments/bench_models.py --config.compute_dtypes="('float32','bfloat16')"

Prints the matmul peak, then per model workload (32x32x3 small-image variants at batch
`batch`, ResNet-50 at 224x224x3 batch 8) and conv impl: compile time, median train-step time
(img/s = batch / median), GFLOP/s (XLA's count), % of the matmul peak, speedup vs 'xla', and
the time ratio vs PyTorch eager when benchmarks/torch_results/models.json exists (made by
`torchref/bin/python benchmarks/torch_zoo_train.py`, torchref a throwaway venv). With --workdir
it writes benchmark.json, whose `info` holds each step's peak memory (XLA buffer assignment);
`python benchmarks/zoo_table.py runs/bench_models/benchmark.json` prints the docs/zoo.md table.
Time and result on the 2-core CPU: see docs/zoo.md. `:smoke` is the tests' tiny variant.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('models')
  c.models = ()              # workload-name prefixes, e.g. ('resnet18', 'mobilenet'); () = all
  # 'default': each model's own conv_impl ('auto' but LeNet-5) with the runner's whole-step
  # XLA options (train.compile_tuning); the others: conv formulations (cnn_jax.ops.conv.IMPLS)
  c.impls = ('default', 'xla')
  c.batch = 32               # batch of the 32x32 workloads (ResNet-50 224px uses 8)
  # model compute dtypes ('float32', 'bfloat16': params float32, as config.train.compute_dtype);
  # each non-float32 one adds the cases '<impl>+bf16' (speedup vs the float32 baseline impl)
  c.compute_dtypes = ('float32',)
  c.update(runs=5, warmup=1, min_sample_s=0.0, peak_n=2048, baseline='xla', compare='torch',
           external=('benchmarks/torch_results/models.json',))
  if arg == 'smoke':
    c.update(smoke=True, batch=4, runs=2, peak_n=128, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
