"""Pooling as parameter-free Linen modules, so a pool is a named layer.

A named module shows up in `models.summarize` (the course's POOL rows) and in
`models.features` (activations by layer name) like any layer with weights.

PyTorch semantics where the zoo needs them: `MaxPool(ceil_mode=True)` (GoogLeNet) and
`AdaptiveAvgPool` (AlexNet, VGG, the Inception auxiliary heads).
"""
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _pairs(padding, ndim: int) -> list[tuple[int, int]]:
  """Explicit (low, high) padding per spatial dim from 'VALID', an int or pairs."""
  if isinstance(padding, str):
    if padding.upper() != 'VALID':
      raise ValueError(f'ceil_mode needs explicit or VALID padding, got {padding!r}.')
    return [(0, 0)] * ndim
  if isinstance(padding, int):
    return [(padding, padding)] * ndim
  return [tuple(p) for p in padding]


def ceil_mode_padding(size: int, window: int, stride: int, pad: tuple[int, int]) -> tuple[int, int]:
  """PyTorch's ceil_mode as extra high-side padding for one spatial dim of length `size`.

  n_out = ceil((n + 2p - f) / s) + 1, minus one if the last window would start in the right
  padding (PyTorch's rule); the extra cells pad with -inf, so they never win the max.
  """
  lo, hi = pad
  n_out = -(-(size + lo + hi - window) // stride) + 1
  if (n_out - 1) * stride >= size + lo:
    n_out -= 1
  return lo, max(hi, (n_out - 1) * stride + window - size - lo)


class MaxPool(nn.Module):
  """Max pooling over the spatial dims of `[N, *spatial, C]`; padding cells are -inf.

  n_out = floor((n + 2p - f) / s) + 1 per spatial dim, or with `ceil_mode=True` PyTorch's
  ceil((n + 2p - f) / s) + 1 (see `ceil_mode_padding`); no parameters.
  """
  window: Sequence[int] = (2, 2)
  strides: Sequence[int] | None = None
  padding: str | int | Sequence[tuple[int, int]] = 'VALID'
  ceil_mode: bool = False

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    window, strides = tuple(self.window), tuple(self.strides or self.window)
    padding = _pairs(self.padding, len(window)) if isinstance(self.padding, int) else self.padding
    if self.ceil_mode:
      pads = _pairs(padding, len(window))
      padding = [ceil_mode_padding(n, f, s, p)
                 for n, f, s, p in zip(x.shape[1:-1], window, strides, pads)]
    return nn.max_pool(x, window, strides, padding)


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


def adaptive_pool_matrix(size: int, out: int) -> np.ndarray:
  """`[out, size]` averaging weights of PyTorch's adaptive average pooling along one dim.

  Output cell i averages input cells floor(i * n / out) .. ceil((i + 1) * n / out) - 1,
  so windows may overlap (n not a multiple of out) or repeat cells (out > n).
  """
  weights = np.zeros((out, size), np.float32)
  for i in range(out):
    start, end = (i * size) // out, -(-((i + 1) * size) // out)
    weights[i, start:end] = 1.0 / (end - start)
  return weights


class AdaptiveAvgPool(nn.Module):
  """PyTorch's AdaptiveAvgPool2d: `[N, H, W, C] -> [N, *output_size, C]` for any H, W.

  The identity when the input already has `output_size`, a plain mean when it is (1, 1);
  otherwise a product with `adaptive_pool_matrix` along H and W. No parameters.
  """
  output_size: Sequence[int] = (1, 1)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    (h, w), (oh, ow) = x.shape[1:3], tuple(self.output_size)
    if (h, w) == (oh, ow):
      return x
    if (oh, ow) == (1, 1):
      return x.mean(axis=(1, 2), keepdims=True)
    rows = jnp.asarray(adaptive_pool_matrix(h, oh), x.dtype)
    cols = jnp.asarray(adaptive_pool_matrix(w, ow), x.dtype)
    return jnp.einsum('ih,nhwc,jw->nijc', rows, x, cols)
