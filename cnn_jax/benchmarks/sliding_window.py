"""Sliding windows: naive crop-and-classify vs the convolutional version, same canvas.

Workloads: the 28x28 window classifier (`models.sliding_window`, 2 convs + 2 FCs, 80k
params) slid at stride 4 over a 1-channel canvas of side 56 (8 x 8 = 64 windows, the Caffe
net-surgery comparison: 64 outputs for ~3x the time of one), 128 (26 x 26 = 676) and 256
(58 x 58 = 3,364), plus a single 28x28 window (the cost of one classification).
impl 'naive' crops every window (static gather) and classifies them `config.naive_batch` at a
time; impl 'conv' is one pass of the fully convolutional model (`fc_to_conv`). Both give the
same logits to ~1e-6 (tests/test_sliding_window.py). items = windows, so items/s is
windows per second; speedup is naive / conv on the same canvas.

Config keys (besides those of `tasks.benchmark`): smoke (the 56 canvas only),
sizes (canvas sides), naive_batch.
"""
import jax
import jax.numpy as jnp

from cnn_jax import bench
from cnn_jax.models import sliding_window as sw

BASELINE = 'naive'


def cases(config) -> list[bench.Case]:
  model = sw.WindowClassifier()
  params = model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)))['params']
  conv_params = sw.fc_to_conv(params, model)
  out = [bench.Case('one 28x28 window', 'conv', lambda p, x: sw.conv_scores(model, p, x),
                    (conv_params, jnp.zeros((28, 28, 1))), flops=0.0, info={'items': 1})]
  sizes = (56,) if config.smoke else tuple(config.sizes)
  for side in sizes:
    image = jax.random.uniform(jax.random.key(side), (side, side, 1))
    grid = sw.grid_size(side, side, model.window, model.stride)
    name = f'canvas {side}x{side}: {grid[0]}x{grid[1]} windows'
    info = {'items': grid[0] * grid[1], 'side': side}
    out.append(bench.Case(name, 'naive',
                          lambda p, x: sw.naive_scores(model, p, x, batch=config.naive_batch),
                          (params, image), flops=0.0, info=info))
    out.append(bench.Case(name, 'conv', lambda p, x: sw.conv_scores(model, p, x),
                          (conv_params, image), flops=0.0, info=info))
  return out
