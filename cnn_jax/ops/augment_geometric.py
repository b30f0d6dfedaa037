"""Geometric augmentations of one image `[H, W, C]` and its boxes `[N, 4]` (pure jax.numpy).

Every function is `op(key, image, boxes=None, **params) -> (image, boxes)`: boxes are xyxy in
pixels (None passes through as None), the output image has a static shape, and the function
works under `jit` and under `vmap` over a batch (`jax.vmap(op)(keys, images, boxes)`).

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

from cnn_jax.ops.augment_warp import (MODES, affine_warp, apply_warps, clip_boxes,
                                      elastic_random_warp, random_affine_warp, rotation_warp,
                                      shear_warp)


def _select(flag, new, old):
  """`new` where the scalar `flag`, else `old` (for images and optional boxes)."""
  return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def flip_lr(key, image, boxes=None, p: float = 0.5):
  """Mirror left-right with probability p: out[:, j] = in[:, W - 1 - j]; x -> W - x."""
  width = image.shape[1]
  flip = jax.random.bernoulli(key, jnp.asarray(p, jnp.float32))
  new_boxes = None if boxes is None else jnp.stack(
      [width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], -1)
  return _select(flip, (image[:, ::-1], new_boxes), (image, boxes))


def flip_ud(key, image, boxes=None, p: float = 0.5):
  """Mirror top-bottom with probability p: out[i] = in[H - 1 - i]; y -> H - y."""
  height = image.shape[0]
  flip = jax.random.bernoulli(key, jnp.asarray(p, jnp.float32))
  new_boxes = None if boxes is None else jnp.stack(
      [boxes[:, 0], height - boxes[:, 3], boxes[:, 2], height - boxes[:, 1]], -1)
  return _select(flip, (image[::-1], new_boxes), (image, boxes))


def pad_crop(key, image, boxes=None, pad: int = 4, mode: str = 'constant', fill: float = 0.0):
  """Pad `pad` pixels on every side, then crop H x W at a uniform integer offset in
  [0, 2 pad]^2 (the CIFAR recipe: a shift of up to +-pad). mode: 'constant' (fill),
  'reflect' or 'nearest' (edge). Boxes move by (pad - ox, pad - oy), then are clipped."""
  if mode not in MODES:
    raise ValueError(f'pad_crop mode {mode!r}; choose from {MODES}.')
  height, width, channels = image.shape
  widths = ((pad, pad), (pad, pad), (0, 0))
  padded = (jnp.pad(image, widths, constant_values=fill) if mode == 'constant' else
            jnp.pad(image, widths, mode='reflect' if mode == 'reflect' else 'edge'))
  oy, ox = jax.random.randint(key, (2,), 0, 2 * pad + 1)
  out = jax.lax.dynamic_slice(padded, (oy, ox, 0), (height, width, channels))
  if boxes is None:
    return out, None
  shift = jnp.stack([pad - ox, pad - oy, pad - ox, pad - oy]).astype(boxes.dtype)
  return out, clip_boxes(boxes + shift, height, width)


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


def random_resized_crop(key, image, boxes=None, scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3),
                        size: int | Sequence[int] | None = None):
  """Inception-style crop: a window of area fraction ~ U(scale) and aspect ~ logU(ratio)
  (torchvision's sampling, 10 attempts then a centred fallback), resized to `size`
  (default: the input's H x W) with torchvision's antialiased bilinear on the window
  (`resize_window_matrix`, two small matmuls: no gather).
  Boxes: (x - left) * out_w / w, (y - top) * out_h / h, clipped."""
  height, width = image.shape[:2]
  out_h, out_w = (height, width) if size is None else (
      (size, size) if isinstance(size, int) else tuple(size))
  top, left, h, w = _crop_window(key, height, width, scale, ratio)
  rows = resize_window_matrix(out_h, height, top, h)
  cols = resize_window_matrix(out_w, width, left, w)
  out = jnp.einsum('oh,hwc,pw->opc', rows, image.astype(jnp.float32), cols).astype(image.dtype)
  if boxes is None:
    return out, None
  sy, sx = out_h / h, out_w / w
  factor = jnp.stack([sx, sy, sx, sy]).astype(boxes.dtype)
  offset = jnp.stack([left, top, left, top]).astype(boxes.dtype)
  return out, clip_boxes((boxes - offset) * factor, out_h, out_w)


def warp_affine(image, matrix, boxes=None, mode: str = 'constant', fill: float = 0.0):
  """Applies the forward affine map `matrix` `[3, 3]` (continuous pixel coordinates
  (x, y, 1) -> (x', y', 1)) to the image (output shape = input shape) and the boxes:
  out(p) = in(matrix^-1 p) sampled bilinearly at pixel centres p = (j + 0.5, i + 0.5)."""
  height, width = image.shape[:2]
  return apply_warps(image, [affine_warp(matrix, height, width, mode, fill)], boxes)


def rotate(key, image, boxes=None, degrees=15.0, mode: str = 'constant', fill: float = 0.0):
  """Rotation about the centre by an angle ~ `degrees` (v: U[-v, v]; (lo, hi)), CCW > 0.
  At 90 degrees on a square image this is exactly `np.rot90(image)`."""
  return apply_warps(image, [rotation_warp(key, *image.shape[:2], degrees, mode, fill)], boxes)


def shear(key, image, boxes=None, x=10.0, y=0.0, mode: str = 'constant', fill: float = 0.0):
  """Shear about the centre: x' = x + tan(a) (y - cy), y' = y + tan(b) (x - cx) with angles
  a ~ `x`, b ~ `y` in degrees (v: U[-v, v]; (lo, hi))."""
  return apply_warps(image, [shear_warp(key, *image.shape[:2], x, y, mode, fill)], boxes)


def affine(key, image, boxes=None, degrees=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0,
           mode: str = 'constant', fill: float = 0.0):
  """Random affine (torchvision's RandomAffine): rotation ~ `degrees`, translation up to
  `translate` x (W, H) (a fraction), zoom ~ U(scale), x-shear ~ `shear` degrees."""
  warp = random_affine_warp(key, *image.shape[:2], degrees, translate, scale, shear, mode, fill)
  return apply_warps(image, [warp], boxes)


def elastic(key, image, boxes=None, alpha: float = 34.0, sigma: float = 4.0,
            mode: str = 'nearest', fill: float = 0.0, box_points: int = 8):
  """Elastic local warping (Simard, Steinkraus & Platt 2003): a displacement field
  d = alpha * G_sigma * U(-1, 1) per pixel and axis (G_sigma: Gaussian smoothing, applied as
  row/column matrices), out(p) = in(p + d(p)). The defaults are Simard's for 28x28 digits
  (alpha 34, sigma 4: each displacement has std ~ alpha * 0.577 / (2 sqrt(pi) sigma) ~ 1.4 px);
  keep alpha / sigma's ratio to pixel size when scaling up (256 px: e.g. alpha 400, sigma 12).

  Boxes (approximate: the warp is not affine): `box_points` points per edge are moved by the
  first-order forward map q -> q - d(q), and the box becomes their enclosing box, clipped.
  """
  warp = elastic_random_warp(key, *image.shape[:2], alpha, sigma, mode, fill,
                             box_points=box_points)
  return apply_warps(image, [warp], boxes)
