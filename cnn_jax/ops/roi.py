"""RoIAlign and RoIPool: fixed-size feature crops for regions of interest, torchvision's semantics.

Features are NHWC `[N, H, W, C]`; boxes `[K, 4]` xyxy in input-image pixels, mapped onto the
feature map by `spatial_scale` (1 / stride); `batch_index` `[K]` says which image each box
is on (torchvision packs the same into its `[K, 5]` rois). Outputs are `[K, oh, ow, C]`.

RoIAlign (Mask R-CNN): split the box into oh x ow bins; in each, average a gh x gw grid of
bilinear samples of the feature map:

    out[k, i, j] = 1 / (gh gw) * sum_{a < gh, b < gw} bilinear(F, y_{i,a}, x_{j,b})
    y_{i,a} = y1 * scale - o + i * bin_h + (a + 0.5) * bin_h / gh,   bin_h = roi_h / oh

with o = 0.5 when `aligned` (pixel centres at half-integers; the RoI is not stretched to at
least 1 x 1), else o = 0 and roi_h = max(roi_h, 1). gh = sampling_ratio if > 0, else
ceil(roi_h / oh) per box (adaptive). A sample above -1 and below H (W) is clamped into the map,
outside it counts as 0. RoIPool (Fast R-CNN) rounds the box to the feature grid (half away
from zero), splits it into oh x ow integer bins, and takes each bin's max (0 for empty bins).

Both are linear (RoIPool piecewise) in the features and written as `custom_vjp`s whose
backward passes are torchvision's (bilinear weights scattered back; the gradient of a max goes
to the first maximal cell in row-major order), so they support `grad` with respect to the
features (not forward-mode `jvp`; boxes get no gradient, as in torchvision). The per-box
sample loop is a `lax.while_loop` over max_k(gh * gw) steps, so adaptive sampling stays exact
for boxes of any size with static shapes, under `jit` and `vmap`.

Bin arithmetic follows torchvision's float32 C++ step by step. The quotients roi / out are
rounded once (`ops.division.divide`), because they are ceil()ed or floor()ed into indices (the
adaptive grid; RoIPool's bin edges floor(p fl(L / out)), ceil((p + 1) fl(L / out))), and
`x / out` under `jit` becomes x * fl(1 / out), which moves an edge by a cell, e.g. L = 21 at
7 x 7. These are torchvision's float edges, not exact rationals: for L = 57 at 7 x 7 the last
bin ends at ceil(7 fl(57 / 7)) = 58, one row past 57, and so does torchvision's.
"""
import functools

import jax
import jax.numpy as jnp

from cnn_jax.ops.division import divide


def _axis_samples(start, bin_size, grid, idx, n_bins, size):
  """Bilinear taps along one axis for sample index idx `[K]` of every bin.

  Returns (low, high) int32 `[K, n_bins]`, weights (w_low, w_high) and a validity mask,
  following torchvision's bilinear_interpolate exactly (clamping at 0 and size - 1).
  """
  bins = jnp.arange(n_bins, dtype=start.dtype)
  # torchvision's ((a + 0.5) bin) / grid, divided exactly. A float division here was computed
  # by XLA in one fusion as a quotient and in another as a reciprocal product, so a sample on
  # a cell border (pos = 1 or 0.9999999) took its gather index from one copy and its weight
  # from the other; and the order matters where a sample lands on -1, the edge of `inside`.
  offset = divide((idx.astype(start.dtype) + 0.5) * bin_size, jnp.maximum(grid, 1))
  pos = start[:, None] + bins[None, :] * bin_size[:, None] + offset[:, None]
  inside = (pos >= -1.0) & (pos <= size)
  # Clipping at `size` only guards the int cast: samples beyond it are masked out anyway.
  pos = jnp.clip(pos, 0, size)
  low = jnp.floor(pos).astype(jnp.int32)
  at_end = low >= size - 1
  low = jnp.where(at_end, size - 1, low)
  high = jnp.where(at_end, size - 1, low + 1)
  pos = jnp.where(at_end, low.astype(pos.dtype), pos)
  w_high = pos - low
  return low, high, 1.0 - w_high, w_high, inside & (idx < grid)[:, None]


def _align_geometry(boxes, spatial_scale, output_size, sampling_ratio, aligned):
  oh, ow = output_size
  offset = 0.5 if aligned else 0.0
  b = boxes.astype(jnp.float32) * spatial_scale - offset
  roi_w, roi_h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
  if not aligned:
    roi_w, roi_h = jnp.maximum(roi_w, 1.0), jnp.maximum(roi_h, 1.0)
  # Rounded once, as torchvision's float division: the adaptive grid ceil()s it (module doc).
  bin_h, bin_w = divide(roi_h, oh), divide(roi_w, ow)
  if sampling_ratio > 0:
    gh = gw = jnp.full(boxes.shape[:1], sampling_ratio, jnp.int32)
  else:
    gh = jnp.maximum(jnp.ceil(bin_h), 0).astype(jnp.int32)
    gw = jnp.maximum(jnp.ceil(bin_w), 0).astype(jnp.int32)
  return b[:, 1], b[:, 0], bin_h, bin_w, gh, gw


def _align_taps(geometry, s, features_shape, output_size):
  """Corner indices and weights `[K, oh, ow]` of sample s (row-major over each box's grid)."""
  y0, x0, bin_h, bin_w, gh, gw = geometry
  _, height, width, _ = features_shape
  gw1 = jnp.maximum(gw, 1)
  iy, ix = s // gw1, s % gw1
  yl, yh, wyl, wyh, my = _axis_samples(y0, bin_h, gh, iy, output_size[0], height)
  xl, xh, wxl, wxh, mx = _axis_samples(x0, bin_w, gw, ix, output_size[1], width)
  mask = my[:, :, None] & mx[:, None, :]
  corners = ((yl, xl, wyl, wxl), (yl, xh, wyl, wxh), (yh, xl, wyh, wxl), (yh, xh, wyh, wxh))
  taps = [(y[:, :, None], x[:, None, :], wy[:, :, None] * wx[:, None, :])
          for y, x, wy, wx in corners]
  return taps, mask


# spatial_scale is an array argument (no cotangent) so that changing it does not recompile.
@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5, 6))
def _roi_align(features, boxes, batch_index, spatial_scale, output_size, sampling_ratio, aligned):
  geometry = _align_geometry(boxes, spatial_scale, output_size, sampling_ratio, aligned)
  gh, gw = geometry[4], geometry[5]
  steps = jnp.max(jnp.maximum(gh, 0) * jnp.maximum(gw, 0), initial=0)
  bi = batch_index[:, None, None]

  def body(s, acc):
    taps, mask = _align_taps(geometry, s, features.shape, output_size)
    val = 0
    for y, x, w in taps:
      val = val + w[..., None] * features[bi, y, x]
    return acc + jnp.where(mask[..., None], val, 0)

  k = boxes.shape[0]
  acc = jnp.zeros((k, *output_size, features.shape[-1]), features.dtype)
  acc = jax.lax.fori_loop(0, steps, body, acc)
  count = jnp.maximum(gh * gw, 1).astype(features.dtype)
  return acc / count[:, None, None, None]


def _roi_align_fwd(features, boxes, batch_index, spatial_scale, output_size, sampling_ratio,
                   aligned):
  out = _roi_align(features, boxes, batch_index, spatial_scale, output_size, sampling_ratio,
                   aligned)
  return out, (features.shape, boxes, batch_index, spatial_scale)


def _roi_align_bwd(output_size, sampling_ratio, aligned, res, g):
  shape, boxes, batch_index, spatial_scale = res
  geometry = _align_geometry(boxes, spatial_scale, output_size, sampling_ratio, aligned)
  gh, gw = geometry[4], geometry[5]
  steps = jnp.max(jnp.maximum(gh, 0) * jnp.maximum(gw, 0), initial=0)
  g = g / jnp.maximum(gh * gw, 1).astype(g.dtype)[:, None, None, None]
  bi = jnp.broadcast_to(batch_index[:, None, None], g.shape[:3])

  def body(s, grad):
    taps, mask = _align_taps(geometry, s, shape, output_size)
    for y, x, w in taps:
      contrib = jnp.where(mask[..., None], w[..., None] * g, 0)
      grad = grad.at[bi, jnp.broadcast_to(y, g.shape[:3]),
                     jnp.broadcast_to(x, g.shape[:3])].add(contrib)
    return grad

  grad = jax.lax.fori_loop(0, steps, body, jnp.zeros(shape, g.dtype))
  return grad, jnp.zeros_like(boxes), None, jnp.zeros_like(spatial_scale)


_roi_align.defvjp(_roi_align_fwd, _roi_align_bwd)


def roi_align(features: jax.Array, boxes: jax.Array, batch_index: jax.Array,
              output_size: int | tuple[int, int], spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False) -> jax.Array:
  """RoIAlign (module docstring), equal to torchvision.ops.roi_align up to layout.

  Args:
    features: `[N, H, W, C]` feature maps.
    boxes: `[K, 4]` xyxy boxes in input-image pixels.
    batch_index: `[K]` int, the image of each box in [0, N).
    output_size: oh or (oh, ow).
    spatial_scale: feature cells per input pixel (1 / stride, e.g. 1/16).
    sampling_ratio: samples per bin and axis; <= 0 means adaptive ceil(roi_size / out_size).
    aligned: shift by half a pixel (Detectron2's aligned=True; torchvision's default is False).
  Returns:
    `[K, oh, ow, C]`.
  """
  if isinstance(output_size, int):
    output_size = (output_size, output_size)
  return _roi_align(jnp.asarray(features), jnp.asarray(boxes), jnp.asarray(batch_index, jnp.int32),
                    jnp.asarray(spatial_scale, jnp.float32), tuple(output_size),
                    int(sampling_ratio), bool(aligned))


def _round_half_away(x):
  """C's round(): halves go away from zero (jnp.round goes to even)."""
  return jnp.sign(x) * jnp.floor(jnp.abs(x) + 0.5)


def _pool_bins(boxes, spatial_scale, output_size, size):
  """Per-bin integer [start, end) along one axis: boxes `[K, 2]` (lo, hi) -> `[K, n_bins]` each."""
  lo = _round_half_away(boxes[:, 0] * spatial_scale).astype(jnp.int32)
  hi = _round_half_away(boxes[:, 1] * spatial_scale).astype(jnp.int32)
  length = jnp.maximum(hi - lo + 1, 1)
  # torchvision's float arithmetic, bit for bit: bin = fl(L / out) rounded once (not L times
  # XLA's fl(1 / out)), then fl(p bin); exact rationals would differ too (L = 57, out = 7).
  bin_size = divide(length.astype(jnp.float32), output_size)
  p = jnp.arange(output_size, dtype=jnp.float32)
  start = jnp.floor(p[None, :] * bin_size[:, None]).astype(jnp.int32)
  end = jnp.ceil((p[None, :] + 1) * bin_size[:, None]).astype(jnp.int32)
  start = jnp.clip(start + lo[:, None], 0, size)
  end = jnp.clip(end + lo[:, None], 0, size)
  return start, end


def _roi_pool_argmax(features, boxes, batch_index, output_size, spatial_scale):
  """Max value and flat (h * W + w) argmax `[K, oh, ow, C]`; argmax -1 in empty bins."""
  _, height, width, c = features.shape
  oh, ow = output_size
  hs, he = _pool_bins(boxes[:, 1::2], spatial_scale, oh, height)
  ws, we = _pool_bins(boxes[:, 0::2], spatial_scale, ow, width)
  span_w = jnp.max(we - ws, initial=0)
  steps = jnp.max(he - hs, initial=0) * span_w
  empty = (he[:, :, None] <= hs[:, :, None]) | (we[:, None, :] <= ws[:, None, :])
  bi = batch_index[:, None, None]
  lowest = jnp.finfo(features.dtype).min  # torchvision's -FLT_MAX start value

  def body(s, state):
    best, arg = state
    h = hs[:, :, None] + s // span_w
    w = ws[:, None, :] + s % span_w
    inside = (h < he[:, :, None]) & (w < we[:, None, :])
    hc, wc = jnp.minimum(h, height - 1), jnp.minimum(w, width - 1)
    v = features[bi, hc, wc]
    better = inside[..., None] & (v > best)  # strict: the first maximum in row-major order wins
    flat = jnp.broadcast_to((hc * width + wc)[..., None], v.shape)
    return jnp.where(better, v, best), jnp.where(better, flat, arg)

  k = boxes.shape[0]
  best = jnp.where(empty[..., None], jnp.zeros((), features.dtype), lowest)
  best = jnp.broadcast_to(best, (k, oh, ow, c))
  arg = jnp.full((k, oh, ow, c), -1, jnp.int32)
  return jax.lax.fori_loop(0, steps, body, (best, arg))


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _roi_pool(features, boxes, batch_index, spatial_scale, output_size):
  return _roi_pool_argmax(features, boxes, batch_index, output_size, spatial_scale)[0]


def _roi_pool_fwd(features, boxes, batch_index, spatial_scale, output_size):
  best, arg = _roi_pool_argmax(features, boxes, batch_index, output_size, spatial_scale)
  return best, (features.shape, boxes, batch_index, spatial_scale, arg)


def _roi_pool_bwd(output_size, res, g):
  (n, height, width, c), boxes, batch_index, spatial_scale, arg = res
  hit = arg >= 0
  flat = jnp.where(hit, arg, 0)
  bi = jnp.broadcast_to(batch_index[:, None, None, None], arg.shape)
  ci = jnp.broadcast_to(jnp.arange(c), arg.shape)
  grad = jnp.zeros((n, height * width, c), g.dtype).at[bi, flat, ci].add(jnp.where(hit, g, 0))
  return (grad.reshape(n, height, width, c), jnp.zeros_like(boxes), None,
          jnp.zeros_like(spatial_scale))


_roi_pool.defvjp(_roi_pool_fwd, _roi_pool_bwd)


def roi_pool(features: jax.Array, boxes: jax.Array, batch_index: jax.Array,
             output_size: int | tuple[int, int], spatial_scale: float = 1.0) -> jax.Array:
  """RoIPool (module docstring), equal to torchvision.ops.roi_pool up to layout.

  The box is rounded to cells [round(x1 s), round(x2 s)] (inclusive, at least 1 cell), bin
  (i, j) covers rows [floor(i L / oh), ceil((i + 1) L / oh)) of it, clipped to the map.

  Args:
    features: `[N, H, W, C]`. boxes: `[K, 4]` xyxy pixels. batch_index: `[K]` int.
    output_size: oh or (oh, ow). spatial_scale: 1 / stride.
  Returns:
    `[K, oh, ow, C]`: each bin's max, 0 for a bin that falls outside the map.
  """
  if isinstance(output_size, int):
    output_size = (output_size, output_size)
  return _roi_pool(jnp.asarray(features), jnp.asarray(boxes), jnp.asarray(batch_index, jnp.int32),
                   jnp.asarray(spatial_scale, jnp.float32), tuple(output_size))
