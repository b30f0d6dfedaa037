"""RoIAlign differentiable with respect to the boxes as well as the features.

`ops.roi.roi_align` follows torchvision (a custom_vjp: feature gradients only, boxes get
zero). This is the same forward arithmetic for a fixed `sampling_ratio` > 0, written with
plain jnp so that autodiff reaches the box coordinates through the sample positions:

    y_{i,a} = y1 s - o + i bin_h + (a + 0.5) bin_h / g,   bin_h = (y2 - y1) s / oh
    out[k, i, j] = 1/g^2 sum_{a,b} bilinear(F, y_{i,a}, x_{j,b})

Bilinear sampling is linear in y between rows, so d out / d y_{i,a} is the difference of the
two neighbouring rows (weighted by the column weights), and y_{i,a} is affine in y1 and y2.

Bilinear sampling is torchvision's: a sample beyond [-1, H] is 0; y <= 0 reads row 0; at or
past row H - 1 it reads row H - 1 (no gradient there, where the clamp is flat).
Per image the sampling is separable: out_k = Wy_k F Wx_k^T with Wy_k `[oh g, H]` and
Wx_k `[ow g, W]` bilinear weight matrices (two einsums; memory K oh g W C, no gathers).
"""
import jax
import jax.numpy as jnp


def _axis_weights(start, length, out, g, size, aligned):
  """Bilinear weights `[K, out * g, size]` of the samples along one axis (module docstring)."""
  offset = 0.5 if aligned else 0.0
  start = start - offset
  length = length if aligned else jnp.maximum(length, 1.0)
  bin_len = length / out
  steps = (jnp.arange(out)[:, None] + (jnp.arange(g)[None, :] + 0.5) / g).reshape(-1)
  p = start[:, None] + steps[None, :] * bin_len[:, None]                 # [K, out g]
  inside = (p >= -1.0) & (p <= size)
  p = jnp.clip(p, 0.0, size - 1.0)       # y <= 0 -> 0; y >= H - 1 -> H - 1 (flat: no gradient)
  low = jnp.floor(p)
  frac = p - low
  cells = jnp.arange(size)
  w = (jnp.where(cells == low[..., None], 1.0 - frac[..., None], 0.0)
       + jnp.where(cells == low[..., None] + 1, frac[..., None], 0.0))
  return jnp.where(inside[..., None], w, 0.0)


def roi_align(features: jax.Array, boxes: jax.Array, batch_index: jax.Array,
              output_size: int | tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = 2, aligned: bool = False) -> jax.Array:
  """RoIAlign `[K, oh, ow, C]` of features `[N, H, W, C]`, boxes `[K, 4]` xyxy image pixels,
  batch_index `[K]`; equal to `ops.roi.roi_align` for the same fixed sampling_ratio > 0, and
  differentiable in `boxes` (and `spatial_scale`) as well as `features`."""
  if sampling_ratio <= 0:
    raise ValueError(f'sampling_ratio={sampling_ratio}: the box-differentiable RoIAlign needs a '
                     'fixed number of samples per bin (> 0); the adaptive grid (<= 0) changes '
                     'with the box size and has no derivative there (use ops.roi.roi_align).')
  oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
  _, h, w, _ = features.shape
  b = boxes * spatial_scale
  wy = _axis_weights(b[:, 1], b[:, 3] - b[:, 1], oh, sampling_ratio, h, aligned)
  wx = _axis_weights(b[:, 0], b[:, 2] - b[:, 0], ow, sampling_ratio, w, aligned)
  f = features[batch_index]                                               # [K, H, W, C]
  rows = jnp.einsum('kyh,khwc->kywc', wy, f)
  out = jnp.einsum('kywc,kxw->kyxc', rows, wx)                            # [K, oh g, ow g, C]
  k, c = out.shape[0], out.shape[-1]
  g = sampling_ratio
  return out.reshape(k, oh, g, ow, g, c).mean(axis=(2, 4))
