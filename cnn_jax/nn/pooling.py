"""Pooling as parameter-free Linen modules, so a pool is a named layer.

A named module shows up in `models.summarize` (the course's POOL rows) and in
`models.features` (activations by layer name) like any layer with weights.
"""
from typing import Sequence

import flax.linen as nn
import jax


class MaxPool(nn.Module):
  """Max pooling over the spatial dims of `[N, *spatial, C]`.

  n_out = floor((n + 2p - f) / s) + 1 per spatial dim; no parameters.
  """
  window: Sequence[int] = (2, 2)
  strides: Sequence[int] | None = None
  padding: str | Sequence[tuple[int, int]] = 'VALID'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.max_pool(x, tuple(self.window), tuple(self.strides or self.window), self.padding)


class AvgPool(nn.Module):
  """Average pooling over the spatial dims of `[N, *spatial, C]`.

  `count_include_pad=True` divides by the full window even where it overlaps padding
  (PyTorch's default); False divides by the number of real cells.
  """
  window: Sequence[int] = (2, 2)
  strides: Sequence[int] | None = None
  padding: str | Sequence[tuple[int, int]] = 'VALID'
  count_include_pad: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return nn.avg_pool(x, tuple(self.window), tuple(self.strides or self.window), self.padding,
                       count_include_pad=self.count_include_pad)


class GlobalAvgPool(nn.Module):
  """Mean over all spatial dims: `[N, *spatial, C] -> [N, C]`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return x.mean(axis=tuple(range(1, x.ndim - 1)))
