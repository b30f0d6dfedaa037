r"""U-Net (SAME, batch norm, widths 16-128) train step vs PyTorch eager (cnn_jax.benchmarks.unet).

Command:
  python launch.py --config experiments/bench_unet.py [--workdir runs/bench_unet]

Reference timings (the same network in torch.nn, pixel CE, Adam, 2 threads) come from
  python cnn_jax/benchmarks/_unet_reference.py --out benchmarks/torch_results/unet.json
run once in a throwaway venv with torch==2.14.1 torchvision==0.29.1; they join the table as
impl 'torch' (only when taken on this CPU). img/s is the items/s column.
Measured: not yet (see docs/segmentation.md).
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
