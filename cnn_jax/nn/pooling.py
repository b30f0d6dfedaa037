"""Pooling as parameter-free Linen modules, so a pool is a named layer.

A named module shows up in `models.summarize` (the course's POOL rows) and in
`models.features` (activations by layer name) like any layer with weights.

PyTorch semantics where the zoo needs them: `MaxPool(ceil_mode=True)` (GoogLeNet) and
`AdaptiveAvgPool` (AlexNet, VGG, the Inception auxiliary heads).
"""
import functools
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


def _blocks(x: jax.Array, window: Sequence[int]) -> jax.Array:
  """`[N, H, W, C]` -> `[N, H/kh, W/kw, C, kh * kw]`: each non-overlapping window's cells,
  in row-major window order."""
  (n, h, w, c), (kh, kw) = x.shape, window
  cells = x.reshape(n, h // kh, kh, w // kw, kw, c).transpose(0, 1, 3, 5, 2, 4)
  return cells.reshape(n, h // kh, w // kw, c, kh * kw)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def block_max_pool(x: jax.Array, window: tuple[int, int]) -> jax.Array:
  """Max pooling with stride = window and no padding on `[N, H, W, C]` (H, W multiples of
  the window): y = max over each block, `[N, H/kh, W/kw, C]`.

  The same values and gradients as `lax.reduce_window` max (`nn.max_pool`), bit for bit:
  the gradient goes to the *first* maximum of each window in row-major order, as XLA's
  select-and-scatter (and PyTorch) do, not split between ties (ReLU zeros and constant
  image borders tie often). Both passes are reshapes plus elementwise work, where XLA:CPU's
  select-and-scatter is a slow scalar loop (LeNet-5, VGG: every pool is 2x2/2).
  """
  return _blocks(x, window).max(axis=-1)


def _block_max_pool_fwd(x, window):
  cells = _blocks(x, window)
  return cells.max(axis=-1), cells


def _block_max_pool_bwd(window, cells, dy):
  first = jnp.argmax(cells, axis=-1)[..., None]  # argmax returns the first maximum
  dx = jnp.where(jnp.arange(cells.shape[-1]) == first, dy[..., None], jnp.zeros((), dy.dtype))
  (n, ho, wo, c, _), (kh, kw) = dx.shape, window
  return (dx.reshape(n, ho, wo, c, kh, kw).transpose(0, 1, 4, 2, 5, 3).reshape(
      n, ho * kh, wo * kw, c),)


block_max_pool.defvjp(_block_max_pool_fwd, _block_max_pool_bwd)


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
    unpadded = (padding.upper() == 'VALID' if isinstance(padding, str)
                else all(tuple(p) == (0, 0) for p in padding))
    if (x.ndim == 4 and len(window) == 2 and window == strides and unpadded
        and x.shape[1] % window[0] == 0 and x.shape[2] % window[1] == 0):
      return block_max_pool(x, window)  # non-overlapping windows: no select-and-scatter
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
