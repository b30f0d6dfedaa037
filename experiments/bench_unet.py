r"""U-Net (SAME, batch norm, widths 16-128) train step vs PyTorch eager (cnn_jax.benchmarks.unet).

Command:
  python launch.py --config experiments/bench_unet.py [--workdir runs/bench_unet]

Reference timings (the same network in torch.nn, pixel CE, Adam, 2 threads) come from
  python cnn_jax/benchmarks/_unet_reference.py --out benchmarks/torch_results/unet.json
run once in a throwaway venv with torch==2.14.1 torchvision==0.29.1; they join the table as
impl 'torch' (only when taken on this CPU). img/s is the items/s column.
Measured once (JAX 0.10.2 vs torch 2.14.1 eager, 2 threads, under heavy --exclusive but load
5.4 -> 3.2 from other sessions' processes, so p10-p90 spans +-35%): 128px b8: JAX 3.22 s/step
= 2.5 img/s, torch 3.62 s = 2.2 img/s (JAX 1.12x); 256px b4: JAX 3.23 s = 1.24 img/s, torch
1.73 s = 2.3 img/s (JAX 0.54x). Compile 17.9 s / 9.7 s. 12:00-12:04 UTC, 3 min 53 s in all.
`:smoke` is the tiny variant the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('unet')
  c.impls = ('xla',)
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=0,
           external=('benchmarks/torch_results/unet.json',))
  if arg == 'smoke':
    c.update(smoke=True, runs=2, warmup=1, min_sample_s=0.0, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
