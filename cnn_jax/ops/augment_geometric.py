"""Geometric augmentations of one image `[H, W, C]` and its boxes, masks and points (pure jnp).

Every function is `op(key, image, boxes=None, **params) -> (image, boxes)`: boxes are xyxy in
pixels (None passes through as None), the output image has a static shape, and the function
works under `jit` and under `vmap` over a batch (`jax.vmap(op)(keys, images, boxes)`).
Called with a sample dict instead, `op(key, sample, **params) -> sample` moves everything in it
together (`check_sample` lists the entries): 'mask' `[H, W]` or `[H, W, K]` (any dtype: class
ids, instance ids, one-hot) by nearest neighbour, i.e. each output pixel copies the label of
the input pixel its source point falls in, and takes `mask_fill` where the image takes a
'constant' fill (default 0 = background; pass e.g. 255 to mark it as ignored); 'points'
`[K, 2]` (x, y) by the forward map like boxes, 'points_valid' `[K]` turning False for points
moved out of the frame (their coordinates are kept, not clipped); 'boxes_valid' `[N]` turning
False for boxes clipped to zero area. The flips take `flip_pairs`, index pairs of points that
swap names on a mirror image (left eye <-> right eye); any other entry passes through.

Coordinates are continuous: pixel (row i, column j) covers [j, j + 1] x [i, i + 1], its centre
is (j + 0.5, i + 0.5), the image spans [0, W] x [0, H] (torchvision's box convention).
A warp (rotate, shear, affine, elastic; `augment_warp`) computes each output pixel centre's
source point with the inverse map and samples it bilinearly
(`jax.scipy.ndimage.map_coordinates`, order 1); points outside the image take `fill` (mode
'constant') or the border pixel ('nearest'), or mirror ('reflect'). Boxes take the forward
map: an affine map moves the 4 corners and the box becomes their enclosing axis-aligned box;
every box is then clipped to the image, so a box pushed out of the frame ends with zero area
(a static-shape "dropped" box). flips, pad_crop and random_resized_crop move whole rows and
columns (reversal, slicing, separable resampling) and need no per-pixel gather.

Random ranges: a number v means uniform in [-v, v], a pair (lo, hi) uniform in [lo, hi]
(lo == hi gives a fixed value, e.g. `rotate(key, x, degrees=(90, 90))`). Angles are degrees,
positive = counter-clockwise as displayed (torchvision's `rotate`).
"""
import math
from typing import Sequence

import jax
import jax.numpy as jnp

from cnn_jax.ops.augment_warp import (MODES, affine_warp, clip_boxes, elastic_random_warp,
                                      move_boxes, move_points, random_affine_warp,
                                      rotation_warp, shear_warp, warp_sample)

SAMPLE_KEYS = ('image', 'boxes', 'boxes_valid', 'mask', 'points', 'points_valid')


def check_sample(sample: dict) -> None:
  """Checks one sample dict: 'image' `[H, W, C]` (required); 'boxes' `[N, 4]` xyxy pixels,
  'boxes_valid' `[N]` bool; 'mask' `[H, W]` or `[H, W, K]`; 'points' `[K, 2]` (x, y) pixels,
  'points_valid' `[K]` bool. Other entries pass through the augmentation untouched."""
  if 'image' not in sample or jnp.ndim(sample['image']) != 3:
    raise ValueError("An augmentation sample needs 'image' of shape [H, W, C]; got entries "
                     f"{ {k: jnp.shape(v) for k, v in sample.items()} }.")
  hw = tuple(sample['image'].shape[:2])
  if 'mask' in sample and tuple(jnp.shape(sample['mask'])[:2]) != hw:
    raise ValueError(f"sample['mask'] has shape {jnp.shape(sample['mask'])} but the image is "
                     f'{hw[0]}x{hw[1]}: resize the mask to the image (or crop both) first.')
  for name, shape in (('boxes', 4), ('points', 2)):
    if name in sample and (jnp.ndim(sample[name]) != 2 or jnp.shape(sample[name])[1] != shape):
      raise ValueError(f"sample[{name!r}] must be [N, {shape}]; got {jnp.shape(sample[name])}.")
    flag = f'{name}_valid'
    if flag in sample and jnp.shape(sample[flag]) != jnp.shape(sample[name])[:1]:
      raise ValueError(f'sample[{flag!r}] must be [{jnp.shape(sample[name])[0]}] (one flag per '
                       f'{name[:-1] if name == "points" else "box"}); got '
                       f'{jnp.shape(sample[flag])}.')


def as_sample(image, boxes=None) -> tuple[dict, bool]:
  """(sample dict with validity flags for its boxes / points, whether the caller used the
  (image, boxes) form)."""
  if isinstance(image, dict):
    if boxes is not None:
      raise ValueError('Pass the boxes inside the sample dict, not also as an argument.')
    check_sample(image)
    sample, legacy = dict(image), False
  else:
    sample, legacy = ({'image': image} if boxes is None else {'image': image, 'boxes': boxes},
                      True)
  for name in ('boxes', 'points'):
    if name in sample and f'{name}_valid' not in sample:
      sample[f'{name}_valid'] = jnp.ones(jnp.shape(sample[name])[:1], bool)
  return sample, legacy


def from_sample(sample: dict, legacy: bool):
  """The op's result in the form it was called with: (image, boxes or None) or the dict."""
  return (sample['image'], sample.get('boxes')) if legacy else sample


def _select(flag, new, old):
  """`new` where the scalar `flag`, else `old` (for every entry of the sample)."""
  return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def flip_permutation(flip_pairs, count: int) -> list[int]:
  """Point order after a mirror: index pairs (i, j) swap, every other point stays."""
  perm = list(range(count))
  seen = set()
  for pair in flip_pairs or ():
    if len(pair) != 2 or any(not 0 <= int(i) < count for i in pair) or seen & set(pair):
      raise ValueError(f'flip_pairs {flip_pairs!r}: each entry must be a pair (i, j) of '
                       f'distinct point indices in [0, {count}), each index in one pair only.')
    i, j = (int(v) for v in pair)
    perm[i], perm[j] = j, i
    seen |= {i, j}
  return perm


def _mirror(sample: dict, flip_pairs) -> dict:
  """Renames mirrored points: points[i] <-> points[j] for each pair (with their flags)."""
  if 'points' not in sample or not flip_pairs:
    return sample
  perm = jnp.asarray(flip_permutation(flip_pairs, sample['points'].shape[0]))
  return {**sample, 'points': sample['points'][perm],
          'points_valid': sample['points_valid'][perm]}


def flip_lr(key, image, boxes=None, p: float = 0.5, flip_pairs=None):
  """Mirror left-right with probability p: out[:, j] = in[:, W - 1 - j]; x -> W - x; mask
  columns reversed; points x -> W - x then renamed by `flip_pairs` (a mirror swaps the
  object's left and right)."""
  sample, legacy = as_sample(image, boxes)
  height, width = sample['image'].shape[:2]
  flip = jax.random.bernoulli(key, jnp.asarray(p, jnp.float32))
  new = {**sample, 'image': sample['image'][:, ::-1]}
  if 'mask' in new:
    new['mask'] = new['mask'][:, ::-1]
  new = move_boxes(new, lambda b: jnp.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]],
                                            -1))
  new = _mirror(move_points(new, lambda xs, ys: (width - xs, ys), height, width), flip_pairs)
  return from_sample(_select(flip, new, sample), legacy)


def flip_ud(key, image, boxes=None, p: float = 0.5, flip_pairs=None):
  """Mirror top-bottom with probability p: out[i] = in[H - 1 - i]; y -> H - y; mask rows
  reversed; points y -> H - y, renamed by `flip_pairs` too (an upside-down mirror image is a
  left-right mirror turned by 180 degrees, so it swaps left and right as well)."""
  sample, legacy = as_sample(image, boxes)
  height, width = sample['image'].shape[:2]
  flip = jax.random.bernoulli(key, jnp.asarray(p, jnp.float32))
  new = {**sample, 'image': sample['image'][::-1]}
  if 'mask' in new:
    new['mask'] = new['mask'][::-1]
  new = move_boxes(new, lambda b: jnp.stack(
      [b[:, 0], height - b[:, 3], b[:, 2], height - b[:, 1]], -1))
  new = _mirror(move_points(new, lambda xs, ys: (xs, height - ys), height, width), flip_pairs)
  return from_sample(_select(flip, new, sample), legacy)


def _pad(array, pad: int, mode: str, fill):
  """`array` `[H, W, ...]` padded by `pad` rows / columns on each side (numpy's modes)."""
  widths = ((pad, pad), (pad, pad)) + ((0, 0),) * (array.ndim - 2)
  return (jnp.pad(array, widths, constant_values=fill) if mode == 'constant' else
          jnp.pad(array, widths, mode='reflect' if mode == 'reflect' else 'edge'))


def pad_crop(key, image, boxes=None, pad: int = 4, mode: str = 'constant', fill: float = 0.0,
             mask_fill=0):
  """Pad `pad` pixels on every side, then crop H x W at a uniform integer offset in
  [0, 2 pad]^2 (the CIFAR recipe: a shift of up to +-pad). mode: 'constant' (fill; the mask
  takes `mask_fill`), 'reflect' or 'nearest' (edge). Boxes and points move by
  (pad - ox, pad - oy); boxes are then clipped."""
  if mode not in MODES:
    raise ValueError(f'pad_crop mode {mode!r}; choose from {MODES}.')
  sample, legacy = as_sample(image, boxes)
  height, width, channels = sample['image'].shape
  padded = _pad(sample['image'], pad, mode, fill)
  oy, ox = jax.random.randint(key, (2,), 0, 2 * pad + 1)
  sample['image'] = jax.lax.dynamic_slice(padded, (oy, ox, 0), (height, width, channels))
  if 'mask' in sample:
    mask = sample['mask']
    sample['mask'] = jax.lax.dynamic_slice(_pad(mask, pad, mode, mask_fill),
                                           (oy, ox) + (0,) * (mask.ndim - 2), mask.shape)

  def shift_boxes(b):
    shift = jnp.stack([pad - ox, pad - oy, pad - ox, pad - oy]).astype(b.dtype)
    return clip_boxes(b + shift, height, width)

  sample = move_boxes(sample, shift_boxes)
  sample = move_points(sample, lambda xs, ys: (xs + (pad - ox), ys + (pad - oy)), height, width)
  return from_sample(sample, legacy)


def _crop_window(key, height, width, scale, ratio, attempts: int = 10):
  """torchvision's RandomResizedCrop.get_params, vectorised: (top, left, h, w) floats.

  Tries `attempts` (area fraction ~ U(scale), log aspect ~ U(log ratio)) windows and keeps
  the first that fits, else the largest centred window with aspect clamped to `ratio`.
  """
  k_area, k_ratio, k_top, k_left = jax.random.split(key, 4)
  area = height * width * jax.random.uniform(k_area, (attempts,), minval=scale[0],
                                             maxval=scale[1])
  aspect = jnp.exp(jax.random.uniform(k_ratio, (attempts,), minval=math.log(ratio[0]),
                                      maxval=math.log(ratio[1])))
  w = jnp.round(jnp.sqrt(area * aspect))
  h = jnp.round(jnp.sqrt(area / aspect))
  ok = (w > 0) & (h > 0) & (w <= width) & (h <= height)
  first = jnp.argmax(ok)
  w, h = w[first], h[first]
  top = jnp.floor(jax.random.uniform(k_top) * (height - h + 1))
  left = jnp.floor(jax.random.uniform(k_left) * (width - w + 1))
  in_ratio = width / height  # fallback: centre crop
  fw, fh = ((width, round(width / ratio[0])) if in_ratio < ratio[0] else
            (round(height * ratio[1]), height) if in_ratio > ratio[1] else (width, height))
  fallback = jnp.asarray([(height - fh) // 2, (width - fw) // 2, fh, fw], jnp.float32)
  return jnp.where(jnp.any(ok), jnp.stack([top, left, h, w]), fallback)


def resize_window_matrix(out_size: int, in_size: int, start, length) -> jax.Array:
  """`[out_size, in_size]` weights resizing the window [start, start + length) of a line of
  `in_size` pixels to `out_size` (torchvision's antialiased bilinear crop-then-resize, PIL's
  convention): output pixel o looks at centre c = start + (o + 0.5) length / out_size;
  w(i) = max(0, 1 - |i + 0.5 - c| / support), support = max(1, length / out_size) (wider when
  shrinking: antialiasing), only pixels inside the window, each row normalised to 1.
  `start`, `length` may be traced (integers as floats)."""
  scale = out_size / length
  support = jnp.maximum(1.0, 1.0 / scale)
  centre = start + (jnp.arange(out_size, dtype=jnp.float32) + 0.5) / scale
  pixel = jnp.arange(in_size, dtype=jnp.float32) + 0.5
  weight = jnp.maximum(0.0, 1.0 - jnp.abs(pixel[None, :] - centre[:, None]) / support)
  weight = weight * ((pixel > start) & (pixel < start + length))[None, :]
  return weight / jnp.maximum(weight.sum(1, keepdims=True), 1e-12)


def window_nearest_index(out_size: int, start, length) -> jax.Array:
  """`[out_size]` int32: the input pixel holding output pixel o's source centre
  c = start + (o + 0.5) length / out_size (the bilinear resize's centre), kept in the window."""
  centre = start + (jnp.arange(out_size, dtype=jnp.float32) + 0.5) / (out_size / length)
  return jnp.clip(jnp.floor(centre), start, start + length - 1).astype(jnp.int32)


def random_resized_crop(key, image, boxes=None, scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3),
                        size: int | Sequence[int] | None = None):
  """Inception-style crop: a window of area fraction ~ U(scale) and aspect ~ logU(ratio)
  (torchvision's sampling, 10 attempts then a centred fallback), resized to `size`
  (default: the input's H x W) with torchvision's antialiased bilinear on the window
  (`resize_window_matrix`, two small matmuls: no gather); the mask by nearest neighbour at the
  same centres (`window_nearest_index`).
  Boxes and points: (x - left) * out_w / w, (y - top) * out_h / h; boxes clipped."""
  sample, legacy = as_sample(image, boxes)
  image = sample['image']
  height, width = image.shape[:2]
  out_h, out_w = (height, width) if size is None else (
      (size, size) if isinstance(size, int) else tuple(size))
  top, left, h, w = _crop_window(key, height, width, scale, ratio)
  rows = resize_window_matrix(out_h, height, top, h)
  cols = resize_window_matrix(out_w, width, left, w)
  sample['image'] = jnp.einsum('oh,hwc,pw->opc', rows, image.astype(jnp.float32),
                               cols).astype(image.dtype)
  if 'mask' in sample:
    sample['mask'] = sample['mask'][window_nearest_index(out_h, top, h)][
        :, window_nearest_index(out_w, left, w)]
  sy, sx = out_h / h, out_w / w

  def crop_boxes(b):
    factor = jnp.stack([sx, sy, sx, sy]).astype(b.dtype)
    offset = jnp.stack([left, top, left, top]).astype(b.dtype)
    return clip_boxes((b - offset) * factor, out_h, out_w)

  sample = move_boxes(sample, crop_boxes)
  sample = move_points(sample, lambda xs, ys: ((xs - left) * sx, (ys - top) * sy), out_h, out_w)
  return from_sample(sample, legacy)


def _warp(image, boxes, make_warp, mask_fill):
  """Runs the single warp `make_warp(height, width)` on either call form."""
  sample, legacy = as_sample(image, boxes)
  warp = make_warp(*sample['image'].shape[:2])
  return from_sample(warp_sample(sample, [warp], mask_fill), legacy)


def warp_affine(image, matrix, boxes=None, mode: str = 'constant', fill: float = 0.0,
                mask_fill=0):
  """Applies the forward affine map `matrix` `[3, 3]` (continuous pixel coordinates
  (x, y, 1) -> (x', y', 1)) to the image (output shape = input shape) and the boxes:
  out(p) = in(matrix^-1 p) sampled bilinearly at pixel centres p = (j + 0.5, i + 0.5)."""
  return _warp(image, boxes, lambda h, w: affine_warp(matrix, h, w, mode, fill), mask_fill)


def rotate(key, image, boxes=None, degrees=15.0, mode: str = 'constant', fill: float = 0.0,
           mask_fill=0):
  """Rotation about the centre by an angle ~ `degrees` (v: U[-v, v]; (lo, hi)), CCW > 0.
  At 90 degrees on a square image this is exactly `np.rot90(image)`."""
  return _warp(image, boxes, lambda h, w: rotation_warp(key, h, w, degrees, mode, fill),
               mask_fill)


def shear(key, image, boxes=None, x=10.0, y=0.0, mode: str = 'constant', fill: float = 0.0,
          mask_fill=0):
  """Shear about the centre: x' = x + tan(a) (y - cy), y' = y + tan(b) (x - cx) with angles
  a ~ `x`, b ~ `y` in degrees (v: U[-v, v]; (lo, hi))."""
  return _warp(image, boxes, lambda h, w: shear_warp(key, h, w, x, y, mode, fill), mask_fill)


def affine(key, image, boxes=None, degrees=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0,
           mode: str = 'constant', fill: float = 0.0, mask_fill=0):
  """Random affine (torchvision's RandomAffine): rotation ~ `degrees`, translation up to
  `translate` x (W, H) (a fraction), zoom ~ U(scale), x-shear ~ `shear` degrees."""
  return _warp(image, boxes, lambda h, w: random_affine_warp(
      key, h, w, degrees, translate, scale, shear, mode, fill), mask_fill)


def elastic(key, image, boxes=None, alpha: float = 34.0, sigma: float = 4.0,
            mode: str = 'nearest', fill: float = 0.0, box_points: int = 8, mask_fill=0):
  """Elastic local warping (Simard, Steinkraus & Platt 2003): a displacement field
  d = alpha * G_sigma * U(-1, 1) per pixel and axis (G_sigma: Gaussian smoothing, applied as
  row/column matrices), out(p) = in(p + d(p)). The defaults are Simard's for 28x28 digits
  (alpha 34, sigma 4: each displacement has std ~ alpha * 0.577 / (2 sqrt(pi) sigma) ~ 1.4 px);
  keep alpha / sigma's ratio to pixel size when scaling up (256 px: e.g. alpha 400, sigma 12).

  Boxes (approximate: the warp is not affine): `box_points` points per edge are moved by the
  first-order forward map q -> q - d(q), and the box becomes their enclosing box, clipped.
  Points are moved to the p with p + d(p) = q (fixed-point iterations, `elastic_warp`).
  """
  return _warp(image, boxes, lambda h, w: elastic_random_warp(
      key, h, w, alpha, sigma, mode, fill, box_points=box_points), mask_fill)
