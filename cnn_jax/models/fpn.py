"""Feature pyramid network (Lin et al. 2017), torchvision's FeaturePyramidNetwork + LastLevelMaxPool.

    pyramid = FPN(out_channels=64)([c2, c3, c4])     # finest first, each stride 2x the previous
    # -> [p2, p3, p4, pool]: every level out_channels wide, pool = p4[:, ::2, ::2]

Per input C_i (finest first): lateral_i = 1x1 conv(C_i); top-down from the coarsest,
M_last = lateral_last, M_i = lateral_i + nearest_upsample(M_{i+1} to C_i's size);
P_i = 3x3 conv(M_i); then one extra level, max pooling P_last with a 1x1 window at stride 2
(torchvision's LastLevelMaxPool: every other pixel), used by the RPN only.
Convs have biases, torchvision's init (kaiming-uniform a=1, bias 0).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# kaiming_uniform_(a=1): gain^2 = 2 / (1 + a^2) = 1, bound sqrt(3 / fan_in).
_init = nn.initializers.variance_scaling(1.0, 'fan_in', 'uniform')


def nearest_resize(x: jax.Array, size: tuple[int, int]) -> jax.Array:
  """`[N, h, w, C] -> [N, H, W, C]`, torch's F.interpolate(mode='nearest'): src = floor(dst h / H)."""
  h, w = x.shape[1:3]
  rows = (jnp.arange(size[0]) * h) // size[0]
  cols = (jnp.arange(size[1]) * w) // size[1]
  return x[:, rows][:, :, cols]


class FPN(nn.Module):
  """Feature maps `[N, H_i, W_i, C_i]` (finest first) -> len + 1 maps `[N, H_i, W_i, out_channels]`."""
  out_channels: int = 256

  @nn.compact
  def __call__(self, features: Sequence[jax.Array]) -> list[jax.Array]:
    if not features:
      raise ValueError('FPN needs at least one feature map')
    laterals = [nn.Conv(self.out_channels, (1, 1), kernel_init=_init, name=f'inner{i}')(f)
                for i, f in enumerate(features)]
    merged = [laterals[-1]]
    for lat in reversed(laterals[:-1]):
      merged.insert(0, lat + nearest_resize(merged[0], lat.shape[1:3]))
    outs = [nn.Conv(self.out_channels, (3, 3), padding=((1, 1), (1, 1)), kernel_init=_init,
                    name=f'layer{i}')(m) for i, m in enumerate(merged)]
    return outs + [outs[-1][:, ::2, ::2]]
