"""Area resampling (adaptive average pooling) of image regions through an integral image.

Output cell i of a region [y0, y1) resized to `out` rows averages the input rows

    [y0 + floor(i * L / out),  y0 + ceil((i + 1) * L / out)),   L = y1 - y0

and likewise for columns: PyTorch's `adaptive_avg_pool2d` (= `interpolate(mode='area')`),
which shrinks by box-averaging and enlarges by repeating pixels. Each cell is a rectangle
sum read from the integral image S[i, j] = sum(image[:i, :j]) with four lookups:

    sum = S[ye, xe] - S[ys, xe] - S[ye, xs] + S[ys, xs]

so a region of any size costs the same: `crop_resize` takes region bounds as traced integers
and returns a static `[K, out_h, out_w, C]`, which is what a jitted detector cascade needs
(MTCNN's 24x24 and 48x48 crops of boxes whose sizes are only known at run time).
For 8-bit images the integral image is int32 and exact up to 2^31 / 255 = 8.4 M pixels
(e.g. 2896 x 2896); the division by the cell area is the only rounding.
"""
import jax
import jax.numpy as jnp
import numpy as np


def integral_image(image: jax.Array) -> jax.Array:
  """`[H, W, C]` integer-valued image -> `[H + 1, W + 1, C]` int32 S with a zero first row/col."""
  if image.ndim != 3:
    raise ValueError(f'integral_image takes [H, W, C], got shape {image.shape}.')
  if image.shape[0] * image.shape[1] * 255 >= 2 ** 31:
    raise ValueError(f'Image {image.shape[:2]} too large for an exact int32 integral image '
                     '(at most 8.4 M pixels).')
  s = jnp.cumsum(jnp.cumsum(image.astype(jnp.int32), axis=0), axis=1)
  return jnp.pad(s, ((1, 0), (1, 0), (0, 0)))


def _cells(start: jax.Array, stop: jax.Array, out: int) -> tuple[jax.Array, jax.Array]:
  """Bounds `[..., out]` of adaptive-pooling cells over [start, stop) (integers, any shape)."""
  length = (stop - start)[..., None]
  i = jnp.arange(out)
  lo = start[..., None] + (i * length) // out
  hi = start[..., None] - ((-(i + 1) * length) // out)  # ceil((i + 1) * L / out)
  return lo, hi


def crop_resize(integral: jax.Array, regions: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Area-resizes integer regions of an image to a fixed size.

  Args:
    integral: `[H + 1, W + 1, C]` from `integral_image`.
    regions: `[K, 4]` int (x0, y0, x1, y1), half-open pixel bounds inside [0, W] x [0, H].
      An empty region (x1 <= x0 or y1 <= y0) gives zeros.
    size: static (out_h, out_w).
  Returns:
    `[K, out_h, out_w, C]` float32 cell means (same units as the image).
  """
  regions = jnp.asarray(regions, jnp.int32)
  ys, ye = _cells(regions[:, 1], regions[:, 3], size[0])   # [K, out_h]
  xs, xe = _cells(regions[:, 0], regions[:, 2], size[1])   # [K, out_w]
  row = lambda y, x: integral[y[:, :, None], x[:, None, :]]  # [K, out_h, out_w, C]
  total = row(ye, xe) - row(ys, xe) - row(ye, xs) + row(ys, xs)
  area = ((ye - ys)[:, :, None] * (xe - xs)[:, None, :])[..., None]
  return jnp.where(area > 0, total / jnp.maximum(area, 1), 0.0).astype(jnp.float32)


def resize(integral: jax.Array, size: tuple[int, int]) -> jax.Array:
  """The whole image area-resized to static `size` (out_h, out_w): `[out_h, out_w, C]` float32.

  The cell bounds are static here (numpy), so this is one gather per corner.
  """
  h, w = integral.shape[0] - 1, integral.shape[1] - 1
  i, j = np.arange(size[0]), np.arange(size[1])
  ys, ye = (i * h) // size[0], -((-(i + 1) * h) // size[0])
  xs, xe = (j * w) // size[1], -((-(j + 1) * w) // size[1])
  total = (integral[ye[:, None], xe[None]] - integral[ys[:, None], xe[None]]
           - integral[ye[:, None], xs[None]] + integral[ys[:, None], xs[None]])
  area = ((ye - ys)[:, None] * (xe - xs)[None])[..., None].astype(np.float32)
  return (total / area).astype(jnp.float32)
