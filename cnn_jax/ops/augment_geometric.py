"""Geometric augmentations of one image `[H, W, C]` and its boxes `[N, 4]` (pure jax.numpy).

Every function is `op(key, image, boxes=None, **params) -> (image, boxes)`: boxes are xyxy in
pixels (None passes through as None), the output image has a static shape, and the function
works under `jit` and under `vmap` over a batch (`jax.vmap(op)(keys, images, boxes)`).

Coordinates are continuous: pixel (row i, column j) covers [j, j + 1] x [i, i + 1], its centre
is (j + 0.5, i + 0.5), the image spans [0, W] x [0, H] (torchvision's box convention).
A warp computes each output pixel centre's source point with the inverse map and samples it
bilinearly (`jax.scipy.ndimage.map_coordinates`, order 1); points outside the image take
`fill` (mode 'constant') or the border pixel ('nearest'), or mirror ('reflect'). Boxes take
the forward map: an affine map moves the 4 corners and the box becomes their enclosing
axis-aligned box; every box is then clipped to the image, so a box pushed out of the frame
ends with zero area (a static-shape "dropped" box).

Random ranges: a number v means uniform in [-v, v], a pair (lo, hi) uniform in [lo, hi]
(lo == hi gives a fixed value, e.g. `rotate(key, x, degrees=(90, 90))`). Angles are degrees,
positive = counter-clockwise as displayed (torchvision's `rotate`).
"""
import math
from typing import Sequence

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

MODES = ('constant', 'nearest', 'reflect')


def _range(key, value, lo_default=None) -> jax.Array:
  """Uniform sample from `value`: v -> [-v, v] (or [lo_default, v]); (lo, hi) -> [lo, hi]."""
  if isinstance(value, (tuple, list)):
    lo, hi = value
  else:
    lo, hi = (-value if lo_default is None else lo_default), value
  return jax.random.uniform(key, (), jnp.float32, lo, hi)


def clip_boxes(boxes: jax.Array, height: int, width: int) -> jax.Array:
  """`[N, 4]` xyxy clipped to [0, W] x [0, H] (boxes fully outside get zero area)."""
  limits = jnp.asarray([width, height, width, height], boxes.dtype)
  return jnp.clip(boxes, 0, limits)


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


def random_resized_crop(key, image, boxes=None, scale: Sequence[float] = (0.08, 1.0),
                        ratio: Sequence[float] = (3 / 4, 4 / 3), size: int | Sequence[int] | None = None):
  """Inception-style crop: a window of area fraction ~ U(scale) and aspect ~ logU(ratio)
  (torchvision's sampling, 10 attempts then a centred fallback), resized to `size`
  (default: the input's H x W) bilinearly with antialiasing (`jax.image.scale_and_translate`).
  Boxes: (x - left) * out_w / w, (y - top) * out_h / h, clipped."""
  height, width, channels = image.shape
  out_h, out_w = (height, width) if size is None else (
      (size, size) if isinstance(size, int) else tuple(size))
  top, left, h, w = _crop_window(key, height, width, scale, ratio)
  sy, sx = out_h / h, out_w / w
  out = jax.image.scale_and_translate(
      image.astype(jnp.float32), (out_h, out_w, channels), (0, 1), jnp.stack([sy, sx]),
      jnp.stack([-top * sy, -left * sx]), method='linear', antialias=True)
  out = out.astype(image.dtype)
  if boxes is None:
    return out, None
  factor = jnp.stack([sx, sy, sx, sy]).astype(boxes.dtype)
  offset = jnp.stack([left, top, left, top]).astype(boxes.dtype)
  return out, clip_boxes((boxes - offset) * factor, out_h, out_w)


def warp_affine(image, matrix, boxes=None, mode: str = 'constant', fill: float = 0.0):
  """Applies the forward affine map `matrix` `[3, 3]` (continuous pixel coordinates
  (x, y, 1) -> (x', y', 1)) to the image (output shape = input shape) and the boxes.

  out(p) = in(matrix^-1 p) sampled bilinearly at pixel centres p = (j + 0.5, i + 0.5).
  """
  if mode not in MODES:
    raise ValueError(f'warp mode {mode!r}; choose from {MODES}.')
  height, width = image.shape[:2]
  inverse = jnp.linalg.inv(matrix)
  ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32) + 0.5,
                        jnp.arange(width, dtype=jnp.float32) + 0.5, indexing='ij')
  src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
  src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
  out = sample(image, src_y - 0.5, src_x - 0.5, mode, fill)
  if boxes is None:
    return out, None
  return out, transform_boxes(boxes, matrix, height, width)


def sample(image, rows, cols, mode: str = 'constant', fill: float = 0.0):
  """Bilinear samples of `image` `[H, W, C]` at array coordinates `rows`, `cols` `[h, w]`
  (row i, column j is the pixel centre) -> `[h, w, C]`."""
  ndmode = {'constant': 'constant', 'nearest': 'nearest', 'reflect': 'mirror'}[mode]

  def channel(plane):
    return ndimage.map_coordinates(plane, [rows, cols], order=1, mode=ndmode, cval=fill)

  return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)


def transform_boxes(boxes, matrix, height: int, width: int):
  """Boxes `[N, 4]` through the affine `matrix`: the enclosing box of the 4 moved corners,
  clipped to the image."""
  x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
  xs = jnp.stack([x1, x2, x1, x2], -1)
  ys = jnp.stack([y1, y1, y2, y2], -1)
  nx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
  ny = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
  moved = jnp.stack([nx.min(-1), ny.min(-1), nx.max(-1), ny.max(-1)], -1).astype(boxes.dtype)
  return clip_boxes(moved, height, width)


def affine_matrix(height: int, width: int, degrees=0.0, shear_x=0.0, shear_y=0.0, scale=1.0,
                  translate_x=0.0, translate_y=0.0) -> jax.Array:
  """Forward map about the image centre c = (W/2, H/2): p' = c + t + R(theta) S (p - c) * s.

  R(theta) = [[cos, sin], [-sin, cos]] (counter-clockwise on screen, y pointing down),
  S = [[1, tan(shear_x)], [tan(shear_y), 1]] (x' = x + tan(shear_x) (y - cy)), s: zoom,
  t: translation in pixels. All angles in degrees; arguments may be traced scalars.
  """
  theta, sx, sy = (jnp.deg2rad(jnp.asarray(a, jnp.float32)) for a in (degrees, shear_x, shear_y))
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  rotate = jnp.array([[cos, sin], [-sin, cos]])
  shear = jnp.array([[1.0, jnp.tan(sx)], [jnp.tan(sy), 1.0]])
  linear = rotate @ shear * scale
  centre = jnp.array([width / 2, height / 2], jnp.float32)
  offset = centre + jnp.stack([jnp.asarray(translate_x, jnp.float32),
                               jnp.asarray(translate_y, jnp.float32)]) - linear @ centre
  return jnp.concatenate([jnp.concatenate([linear, offset[:, None]], 1),
                          jnp.array([[0.0, 0.0, 1.0]])], 0)


def rotate(key, image, boxes=None, degrees=15.0, mode: str = 'constant', fill: float = 0.0):
  """Rotation about the centre by an angle ~ `degrees` (v: U[-v, v]; (lo, hi)), CCW > 0.
  At 90 degrees on a square image this is exactly `np.rot90(image)`."""
  height, width = image.shape[:2]
  matrix = affine_matrix(height, width, degrees=_range(key, degrees))
  return warp_affine(image, matrix, boxes, mode, fill)


def shear(key, image, boxes=None, x=10.0, y=0.0, mode: str = 'constant', fill: float = 0.0):
  """Shear about the centre: x' = x + tan(a) (y - cy), y' = y + tan(b) (x - cx) with angles
  a ~ `x`, b ~ `y` in degrees (v: U[-v, v]; (lo, hi))."""
  height, width = image.shape[:2]
  kx, ky = jax.random.split(key)
  matrix = affine_matrix(height, width, shear_x=_range(kx, x), shear_y=_range(ky, y))
  return warp_affine(image, matrix, boxes, mode, fill)


def affine(key, image, boxes=None, degrees=0.0, translate=0.0, scale=(1.0, 1.0), shear=0.0,
           mode: str = 'constant', fill: float = 0.0):
  """Random affine (torchvision's RandomAffine): rotation ~ `degrees`, translation up to
  `translate` x (W, H) (a fraction), zoom ~ U(scale), x-shear ~ `shear` degrees."""
  height, width = image.shape[:2]
  kr, kt, ks, kh = jax.random.split(key, 4)
  tx, ty = jax.random.uniform(kt, (2,), minval=-translate, maxval=translate)
  scale = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
  matrix = affine_matrix(height, width, degrees=_range(kr, degrees), shear_x=_range(kh, shear),
                         scale=_range(ks, scale), translate_x=tx * width, translate_y=ty * height)
  return warp_affine(image, matrix, boxes, mode, fill)


def gaussian_matrix(n: int, sigma: float) -> jax.Array:
  """`[n, n]` row-normalised Gaussian smoothing matrix: (G f)_i = sum_j g(i - j) f_j / Z_i,
  g(d) = exp(-d^2 / 2 sigma^2) (renormalised at the borders, so a constant stays constant)."""
  d = jnp.arange(n, dtype=jnp.float32)
  g = jnp.exp(-0.5 * ((d[:, None] - d[None, :]) / sigma) ** 2)
  return g / g.sum(1, keepdims=True)


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
  height, width = image.shape[:2]
  noise = jax.random.uniform(key, (2, height, width), minval=-1.0, maxval=1.0)
  gh, gw = gaussian_matrix(height, sigma), gaussian_matrix(width, sigma)
  field = alpha * jnp.einsum('ab,kbc,dc->kad', gh, noise, gw)   # [2, H, W]: (dy, dx)
  rows = jnp.arange(height, dtype=jnp.float32)[:, None] + field[0]
  cols = jnp.arange(width, dtype=jnp.float32)[None, :] + field[1]
  out = sample(image, rows, cols, mode, fill)
  if boxes is None:
    return out, None
  t = jnp.linspace(0.0, 1.0, box_points)
  x1, y1, x2, y2 = (boxes[:, i:i + 1] for i in range(4))
  xs = jnp.concatenate([x1 + (x2 - x1) * t, x1 + (x2 - x1) * t, x1 + 0 * t, x2 + 0 * t], 1)
  ys = jnp.concatenate([y1 + 0 * t, y2 + 0 * t, y1 + (y2 - y1) * t, y1 + (y2 - y1) * t], 1)
  # The field at continuous point q lives at array coordinate q - 0.5.
  at = lambda plane: ndimage.map_coordinates(plane, [ys - 0.5, xs - 0.5], order=1, mode='nearest')
  nx, ny = xs - at(field[1]), ys - at(field[0])
  moved = jnp.stack([nx.min(1), ny.min(1), nx.max(1), ny.max(1)], -1).astype(boxes.dtype)
  return out, clip_boxes(moved, height, width)
