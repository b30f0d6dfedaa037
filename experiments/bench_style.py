r"""Style transfer s/iteration: the JAX step (Adam, L-BFGS) vs PyTorch eager (cnn_jax.benchmarks.style).

Command:
  python launch.py --config experiments/bench_style.py [--workdir runs/bench_style] \
    --compilation_cache_dir=''   (compile times without the persistent cache)

The PyTorch rows (same loss, same weights, Adam, eager, 2 threads) come from
  python benchmarks/torch_style_transfer.py ~/.cache/cnn_jax/vgg_normalized.pth 256 512
run in a throwaway venv with torch==2.14.1, written to benchmarks/torch_results/style_transfer.json
and joined as impl 'torch adam'. Prints compile time, median s/step, and 'vs torch adam'.
`:smoke` is the tiny variant the tests run (64 px, shallow layers, no PyTorch rows).
Measured 28 Nov on the shared 2-core CPU under heavy --exclusive (load 2.7-4.2), median s/step
(compile): 256 px JAX Adam 1.89 (1.9 s), L-BFGS 5.14 (6.7 s), PyTorch Adam 0.72; 512 px JAX
Adam 4.25 (2.5 s), L-BFGS 14.5 (6.4 s), PyTorch Adam 3.69. docs/style.md has the table.
"""
import os
import runpy

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None):
  c = _FAMILY['base']('style')
  c.sizes = (256, 512)               # square sides (the astronaut is square)
  c.optimizers = ('adam', 'lbfgs')
  c.lbfgs_steps = 3                  # chained L-BFGS steps timed per size
  c.torch_results = 'benchmarks/torch_results/style_transfer.json'
  c.update(runs=3, warmup=1, min_sample_s=0.0, peak_n=0)
  if arg == 'smoke':
    c.update(smoke=True, sizes=(64,), lbfgs_steps=2, runs=2, torch_results='')
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
