"""Warps (rotation, shear, affine, elastic) as source-point maps, composed into ONE resampling.

A warp is the map from an output point to the point of its input it shows (the inverse map),
plus how points outside the input frame are treated and how boxes move (the forward map):

    Warp(src, mode, fill, boxes, points, applied)
      src(xs, ys, on_grid) -> (xs', ys')   continuous coordinates (pixel (i, j) covers
                                           [j, j+1] x [i, i+1]; `on_grid`: the points are
                                           exactly the pixel centres, so a field can be read
                                           without interpolation)
      mode: 'constant' (fill) | 'nearest' (border pixel) | 'reflect' (mirror at the border
            pixel centres); boxes(boxes [N, 4]) -> boxes; points(xs, ys) -> (xs', ys') the
            forward map of landmark points; applied: scalar bool (p < 1)

`apply_warps(image, [w1, w2, ...])` shows the image warped by w1, then w2, ...: output pixel
centre p is traced back p -> w_n.src -> ... -> w_1.src and the input image is sampled once,
bilinearly (`jax.scipy.ndimage.map_coordinates`, order 1, with w_1's mode). The boundary
rule of every later warp is applied to the intermediate points (constant: a point outside
the frame [0, W] x [0, H] takes that warp's fill; nearest: clamp; reflect: mirror), so the
result is the sequential one up to interpolation: one interpolation instead of n blurs less,
and on CPU XLA fuses a gather of a gathered (warped) image into one slow loop, which a
single sampling avoids (a rotate|elastic spec runs ~3x faster this way).

`warp_sample(sample, warps, mask_fill)` does the same for a sample dict (see `ops.augment`):
a segmentation mask follows the SAME traced-back source points, read by nearest neighbour
(the pixel containing the point, so integer class / instance ids stay exact; out-of-frame
points under 'constant' take `mask_fill`), landmark points take each warp's forward map and
lose validity as soon as one warp moves them out of the frame [0, W] x [0, H] (whatever the
mode, what a later warp shows there is fill or a mirrored copy, not the point).
"""
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

MODES = ('constant', 'nearest', 'reflect')
_NDIMAGE_MODE = {'constant': 'constant', 'nearest': 'nearest', 'reflect': 'mirror'}


class Warp(NamedTuple):
  """One warp of an `[H, W, C]` image onto the same frame (see the module doc)."""
  src: Callable
  mode: str
  fill: float
  boxes: Callable
  points: Callable
  applied: jax.Array | bool = True


def check_mode(mode: str) -> str:
  if mode not in MODES:
    raise ValueError(f'warp mode {mode!r}; choose from {MODES}.')
  return mode


def random_range(key, value, lo_default=None) -> jax.Array:
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


def affine_matrix(height: int, width: int, degrees=0.0, shear_x=0.0, shear_y=0.0, scale=1.0,
                  translate_x=0.0, translate_y=0.0) -> jax.Array:
  """Forward map about the image centre c = (W/2, H/2): p' = c + t + s R(theta) S (p - c).

  R(theta) = [[cos, sin], [-sin, cos]] (counter-clockwise on screen, y pointing down),
  S = [[1, tan(shear_x)], [tan(shear_y), 1]] (x' = x + tan(shear_x) (y - cy)), s: zoom,
  t: translation in pixels. Angles in degrees; arguments may be traced scalars.
  """
  theta, sx, sy = (jnp.deg2rad(jnp.asarray(a, jnp.float32)) for a in (degrees, shear_x, shear_y))
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  linear = jnp.array([[cos, sin], [-sin, cos]]) @ jnp.array(
      [[1.0, jnp.tan(sx)], [jnp.tan(sy), 1.0]]) * scale
  centre = jnp.array([width / 2, height / 2], jnp.float32)
  offset = centre + jnp.stack([jnp.asarray(translate_x, jnp.float32),
                               jnp.asarray(translate_y, jnp.float32)]) - linear @ centre
  return jnp.concatenate([jnp.concatenate([linear, offset[:, None]], 1),
                          jnp.array([[0.0, 0.0, 1.0]])], 0)


def transform_points(xs, ys, matrix):
  """Points (xs, ys) (any equal shapes) through the forward affine `matrix` `[3, 3]`."""
  return (matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2],
          matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2])


def points_inside(points, height: int, width: int) -> jax.Array:
  """`[K]` bool: point `[K, 2]` (x, y) lies in the image [0, W] x [0, H] (edges included)."""
  x, y = points[..., 0], points[..., 1]
  return (x >= 0) & (x <= width) & (y >= 0) & (y <= height)


def boxes_nonempty(boxes) -> jax.Array:
  """`[N]` bool: the xyxy box has positive area (a box clipped out of the frame has none)."""
  return (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])


def transform_boxes(boxes, matrix, height: int, width: int):
  """Boxes `[N, 4]` through the forward affine `matrix`: the enclosing box of the 4 moved
  corners, clipped to the image."""
  x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
  xs = jnp.stack([x1, x2, x1, x2], -1)
  ys = jnp.stack([y1, y1, y2, y2], -1)
  nx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
  ny = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
  moved = jnp.stack([nx.min(-1), ny.min(-1), nx.max(-1), ny.max(-1)], -1).astype(boxes.dtype)
  return clip_boxes(moved, height, width)


def affine_warp(matrix, height: int, width: int, mode='constant', fill=0.0, applied=True) -> Warp:
  """The warp of forward affine `matrix` `[3, 3]` (its inverse gives the source points)."""
  inverse = jnp.linalg.inv(matrix)

  def src(xs, ys, on_grid=False):
    return (inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2],
            inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2])

  return Warp(src, check_mode(mode), fill, lambda b: transform_boxes(b, matrix, height, width),
              lambda xs, ys: transform_points(xs, ys, matrix), applied)


def gaussian_matrix(n: int, sigma: float) -> jax.Array:
  """`[n, n]` row-normalised Gaussian smoothing matrix: (G f)_i = sum_j g(i - j) f_j / Z_i,
  g(d) = exp(-d^2 / 2 sigma^2) (renormalised at the borders, so a constant stays constant)."""
  d = jnp.arange(n, dtype=jnp.float32)
  g = jnp.exp(-0.5 * ((d[:, None] - d[None, :]) / sigma) ** 2)
  return g / g.sum(1, keepdims=True)


def elastic_field(key, height: int, width: int, alpha: float, sigma: float) -> jax.Array:
  """Simard et al.'s displacement field `[2, H, W]` (dy, dx): alpha * G_sigma * U(-1, 1)."""
  noise = jax.random.uniform(key, (2, height, width), minval=-1.0, maxval=1.0)
  gh, gw = gaussian_matrix(height, sigma), gaussian_matrix(width, sigma)
  return alpha * jnp.einsum('ab,kbc,dc->kad', gh, noise, gw)


def elastic_warp(field, height: int, width: int, mode='nearest', fill=0.0, applied=True,
                 box_points: int = 8, point_iterations: int = 10) -> Warp:
  """The warp out(p) = in(p + d(p)) of a field `[2, H, W]`; boxes take the first-order
  forward map q -> q - d(q) at `box_points` points per edge (enclosing box, clipped); points
  solve p + d(p) = q by `point_iterations` fixed-point steps (accurate where it does not fold)."""

  def at(plane, xs, ys):  # field value at continuous points (array coordinate = q - 0.5)
    return ndimage.map_coordinates(plane, [ys - 0.5, xs - 0.5], order=1, mode='nearest')

  def src(xs, ys, on_grid=False):
    if on_grid:
      return xs + field[1], ys + field[0]
    return xs + at(field[1], xs, ys), ys + at(field[0], xs, ys)

  def boxes(b):
    t = jnp.linspace(0.0, 1.0, box_points)
    x1, y1, x2, y2 = (b[:, i:i + 1] for i in range(4))
    xs = jnp.concatenate([x1 + (x2 - x1) * t, x1 + (x2 - x1) * t, x1 + 0 * t, x2 + 0 * t], 1)
    ys = jnp.concatenate([y1 + 0 * t, y2 + 0 * t, y1 + (y2 - y1) * t, y1 + (y2 - y1) * t], 1)
    nx, ny = xs - at(field[1], xs, ys), ys - at(field[0], xs, ys)
    moved = jnp.stack([nx.min(1), ny.min(1), nx.max(1), ny.max(1)], -1).astype(b.dtype)
    return clip_boxes(moved, height, width)

  def points(xs, ys):
    # The forward map inverts p -> p + d(p): the point p with p + d(p) = q. Fixed-point
    # iteration p <- q - d(p) from the boxes' first-order guess q - d(q); it contracts
    # wherever |grad d| < 1 (where the warp does not fold), ~|grad d|^k error after k steps.
    # A loop, not unrolled: XLA:CPU would fuse the nested gathers (and the field's smoothing)
    # into one loop that recomputes them per point (measured: minutes to compile and run).
    def step(_, p):
      return xs - at(field[1], *p), ys - at(field[0], *p)

    return jax.lax.fori_loop(0, point_iterations, step,
                             (xs - at(field[1], xs, ys), ys - at(field[0], xs, ys)))

  return Warp(src, check_mode(mode), fill, boxes, points, applied)


def _bound(xs, ys, height: int, width: int, mode: str):
  """An intermediate warp's boundary rule on continuous points: (xs, ys, outside mask)."""
  if mode == 'constant':
    return xs, ys, (xs < 0) | (xs > width) | (ys < 0) | (ys > height)
  if mode == 'nearest':
    return jnp.clip(xs, 0.5, width - 0.5), jnp.clip(ys, 0.5, height - 0.5), None
  return _mirror(xs, width), _mirror(ys, height), None


def _mirror(v, n: int):
  """Continuous coordinate v reflected about the end pixel centres 0.5 and n - 0.5
  (ndimage's 'mirror'), period 2 (n - 1)."""
  if n == 1:
    return jnp.full_like(v, 0.5)
  a = jnp.mod(v - 0.5, 2 * (n - 1))
  return jnp.where(a > n - 1, 2 * (n - 1) - a, a) + 0.5


def sample_bilinear(image, rows, cols, mode: str = 'constant', fill: float = 0.0):
  """Bilinear samples of `image` `[H, W, C]` at array coordinates `rows`, `cols` `[h, w]`
  (row i, column j is the pixel centre) -> `[h, w, C]`."""

  def channel(plane):
    return ndimage.map_coordinates(plane, [rows, cols], order=1, mode=_NDIMAGE_MODE[mode],
                                   cval=fill)

  return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)


def sample_nearest(mask, xs, ys, mode: str = 'constant', fill=0):
  """`mask` `[H, W, ...]` (any dtype) read at continuous points `xs`, `ys` `[h, w]`: the value
  of the pixel containing each point (column floor(x), row floor(y)), so labels are copied,
  never blended. Outside the frame: 'constant' -> `fill`, 'nearest' -> the border pixel,
  'reflect' -> mirrored about the end pixel centres (the image's rules)."""
  height, width = mask.shape[:2]
  if mode == 'reflect':
    xs, ys = _mirror(xs, width), _mirror(ys, height)
  cols = jnp.clip(jnp.floor(xs).astype(jnp.int32), 0, width - 1)
  rows = jnp.clip(jnp.floor(ys).astype(jnp.int32), 0, height - 1)
  out = mask[rows, cols]
  if mode == 'constant':
    outside = (xs < 0) | (xs >= width) | (ys < 0) | (ys >= height)
    out = jnp.where(_expand(outside, out), jnp.asarray(fill, mask.dtype), out)
  return out


def _expand(flags, like):
  """`[h, w]` flags broadcastable against `like` `[h, w, ...]`."""
  return flags.reshape(flags.shape + (1,) * (like.ndim - flags.ndim))


def move_points(sample: dict, fn: Callable, height: int, width: int, applied=True) -> dict:
  """sample['points'] `[K, 2]` through the forward map fn(xs, ys) where `applied`;
  'points_valid' &= inside the (new) H x W frame. No-op without points."""
  if 'points' not in sample:
    return sample
  points = sample['points']
  new = jnp.stack(fn(points[:, 0], points[:, 1]), -1).astype(points.dtype)
  points = jnp.where(applied, new, points)
  valid = sample.get('points_valid', jnp.ones(points.shape[:1], bool))
  return {**sample, 'points': points,
          'points_valid': valid & points_inside(points, height, width)}


def move_boxes(sample: dict, fn: Callable, applied=True) -> dict:
  """sample['boxes'] `[N, 4]` -> fn(boxes) where `applied` (fn clips to the frame);
  'boxes_valid' &= positive area. No-op without boxes."""
  if 'boxes' not in sample:
    return sample
  boxes = jnp.where(applied, fn(sample['boxes']), sample['boxes'])
  valid = sample.get('boxes_valid', jnp.ones(boxes.shape[:1], bool))
  return {**sample, 'boxes': boxes, 'boxes_valid': valid & boxes_nonempty(boxes)}


def apply_warps(image, warps: list[Warp], boxes=None):
  """`image` `[H, W, C]` warped by warps[0], then warps[1], ... with one resampling (module
  doc); boxes `[N, 4]` (or None) through each warp's forward map in order."""
  sample = warp_sample({'image': image} if boxes is None else {'image': image, 'boxes': boxes},
                       warps)
  return sample['image'], sample.get('boxes')


def warp_sample(sample: dict, warps: list[Warp], mask_fill=0) -> dict:
  """The sample dict ('image' `[H, W, C]`; optional 'boxes' `[N, 4]`, 'mask' `[H, W, ...]`,
  'points' `[K, 2]` with their validity flags) warped by warps[0], warps[1], ... : image
  resampled once (bilinear), mask once (nearest, `mask_fill` where the image takes a
  'constant' fill), boxes and points through each forward map in order (module doc)."""
  if not warps:
    return sample
  image = sample['image']
  height, width = image.shape[:2]
  ys, xs = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32) + 0.5,
                        jnp.arange(width, dtype=jnp.float32) + 0.5, indexing='ij')
  fills = []
  for i, warp in enumerate(reversed(warps)):
    new_xs, new_ys = warp.src(xs, ys, on_grid=i == 0)
    xs, ys = (jnp.where(warp.applied, new_xs, xs), jnp.where(warp.applied, new_ys, ys))
    if warp is not warps[0]:  # the first warp's rule is the sampling mode itself
      xs, ys, outside = _bound(xs, ys, height, width, warp.mode)
      if outside is not None:
        fills.append((outside & warp.applied, warp.fill))
  out = sample_bilinear(image, ys - 0.5, xs - 0.5, warps[0].mode, warps[0].fill)
  for outside, fill in fills:  # later warps last: their fill wins, as when run in sequence
    out = jnp.where(outside[..., None], jnp.asarray(fill, out.dtype), out)
  sample = {**sample, 'image': out}
  if 'mask' in sample:
    mask = sample_nearest(sample['mask'], xs, ys, warps[0].mode, mask_fill)
    for outside, _ in fills:
      mask = jnp.where(_expand(outside, mask), jnp.asarray(mask_fill, mask.dtype), mask)
    sample['mask'] = mask
  for warp in warps:
    sample = move_boxes(sample, warp.boxes, warp.applied)
    sample = move_points(sample, warp.points, height, width, warp.applied)
  return sample


def rotation_warp(key, height, width, degrees=15.0, mode='constant', fill=0.0, applied=True):
  """Rotation about the centre by an angle ~ `degrees` (degrees, counter-clockwise > 0)."""
  matrix = affine_matrix(height, width, degrees=random_range(key, degrees))
  return affine_warp(matrix, height, width, mode, fill, applied)


def shear_warp(key, height, width, x=10.0, y=0.0, mode='constant', fill=0.0, applied=True):
  """x' = x + tan(a) (y - cy), y' = y + tan(b) (x - cx); a ~ `x`, b ~ `y` degrees."""
  kx, ky = jax.random.split(key)
  matrix = affine_matrix(height, width, shear_x=random_range(kx, x), shear_y=random_range(ky, y))
  return affine_warp(matrix, height, width, mode, fill, applied)


def random_affine_warp(key, height, width, degrees=10.0, translate=0.1, scale=(0.9, 1.1),
                       shear=5.0, mode='constant', fill=0.0, applied=True):
  """torchvision's RandomAffine: rotation ~ `degrees`, translation up to `translate` x (W, H),
  zoom ~ U(scale), x-shear ~ `shear` degrees."""
  kr, kt, ks, kh = jax.random.split(key, 4)
  tx, ty = jax.random.uniform(kt, (2,), minval=-translate, maxval=translate)
  scale = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
  matrix = affine_matrix(height, width, degrees=random_range(kr, degrees),
                         shear_x=random_range(kh, shear), scale=random_range(ks, scale),
                         translate_x=tx * width, translate_y=ty * height)
  return affine_warp(matrix, height, width, mode, fill, applied)


def elastic_random_warp(key, height, width, alpha=34.0, sigma=4.0, mode='nearest', fill=0.0,
                        applied=True, box_points: int = 8):
  """Elastic warp with a fresh Simard field (`elastic_field`)."""
  if sigma <= 0 or not math.isfinite(sigma):
    raise ValueError(f'elastic sigma must be > 0, got {sigma}.')
  field = elastic_field(key, height, width, alpha, sigma)
  return elastic_warp(field, height, width, mode, fill, applied, box_points)


def pad_crop_warp(key, height, width, pad=4, mode='constant', fill=0.0, applied=True):
  """pad_crop as a warp: a shift by (pad - ox, pad - oy), offsets ~ U{0..2 pad} (the same
  draw as `augment_geometric.pad_crop`). Integer shifts sample pixel centres exactly, and
  'reflect' / 'nearest' equal numpy's pad modes 'reflect' / 'edge'."""
  oy, ox = jax.random.randint(key, (2,), 0, 2 * pad + 1)
  tx, ty = (pad - ox).astype(jnp.float32), (pad - oy).astype(jnp.float32)
  matrix = jnp.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])

  def src(xs, ys, on_grid=False):
    return xs - tx, ys - ty

  return Warp(src, check_mode(mode), fill, lambda b: transform_boxes(b, matrix, height, width),
              lambda xs, ys: (xs + tx, ys + ty), applied)


# Spec op name -> warp factory (key, height, width, **params) -> Warp. pad_crop joins them in
# the composer so that it is resampled together with its neighbouring warps.
WARPS = {'pad_crop': pad_crop_warp, 'rotate': rotation_warp, 'shear': shear_warp,
         'affine': random_affine_warp, 'elastic': elastic_random_warp}
