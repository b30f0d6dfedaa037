"""Anchor boxes: sizes x aspect ratios repeated over a feature-map grid with a stride.

An anchor of size s and aspect ratio r = h / w has the area of an s x s square:

    w = s / sqrt(r),   h = s * sqrt(r)

Each feature-map cell (i, j) of a grid with stride (sy, sx) places every base anchor at the
centre (j * sx + offset * sx, i * sy + offset * sy):

- offset = 0 (torchvision's AnchorGenerator, Detectron2's default): centres at the cell's
  top-left corner, so the first anchor is centred on pixel (0, 0);
- offset = 0.5 (SSD, YOLO, the course's grid picture): centres in the middle of each cell.

Order of the result, as torchvision: cell-major (row i, then column j), then aspect ratio,
then size: index = (i * W + j) * A + (ratio_index * len(sizes) + size_index).
Shapes are static Python ints, so the anchors are constants under `jit`.
"""
from typing import Sequence

import jax.numpy as jnp
import jax


def base_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float],
                 round_to_int: bool = True) -> jax.Array:
  """The A = len(aspect_ratios) * len(sizes) anchors `[A, 4]` xyxy centred on (0, 0).

  (-w/2, -h/2, w/2, h/2) with w = s / sqrt(r), h = s * sqrt(r), ratio-major. torchvision
  rounds the half-sizes to integers (round half to even); `round_to_int=False` keeps them exact.
  """
  sizes = jnp.asarray(sizes, jnp.float32)
  ratios = jnp.asarray(aspect_ratios, jnp.float32)
  h_ratios = jnp.sqrt(ratios)
  w_ratios = 1 / h_ratios
  ws = (w_ratios[:, None] * sizes[None, :]).reshape(-1)
  hs = (h_ratios[:, None] * sizes[None, :]).reshape(-1)
  anchors = jnp.stack([-ws, -hs, ws, hs], axis=1) / 2
  return jnp.round(anchors) if round_to_int else anchors


def grid_anchors(base: jax.Array, grid_size: tuple[int, int], stride: tuple[float, float],
                 offset: float = 0.0) -> jax.Array:
  """Tiles base anchors `[A, 4]` over a `grid_size = (H, W)` grid -> `[H * W * A, 4]` xyxy.

  Cell (i, j) adds the shift ((j + offset) * sx, (i + offset) * sy) to every base anchor, with
  `stride = (sy, sx)` pixels per cell (module docstring for the offset).
  """
  h, w = grid_size
  sy, sx = stride
  xs = (jnp.arange(w, dtype=jnp.float32) + offset) * sx
  ys = (jnp.arange(h, dtype=jnp.float32) + offset) * sy
  shift_y, shift_x = jnp.meshgrid(ys, xs, indexing='ij')
  shift_x, shift_y = shift_x.reshape(-1), shift_y.reshape(-1)
  shifts = jnp.stack([shift_x, shift_y, shift_x, shift_y], axis=1)
  return (shifts[:, None, :] + base[None, :, :]).reshape(-1, 4)


def feature_strides(image_size: tuple[int, int],
                    grid_sizes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
  """Integer strides (image_h // grid_h, image_w // grid_w) per level, as torchvision's."""
  return [(image_size[0] // g[0], image_size[1] // g[1]) for g in grid_sizes]


def multilevel_anchors(image_size: tuple[int, int], grid_sizes: Sequence[tuple[int, int]],
                       sizes: Sequence[Sequence[float]],
                       aspect_ratios: Sequence[Sequence[float]], offset: float = 0.0,
                       round_to_int: bool = True) -> jax.Array:
  """All anchors of a feature pyramid, concatenated level by level -> `[sum_l H_l W_l A_l, 4]`.

  Equal to torchvision's `AnchorGenerator(sizes, aspect_ratios)` for one image of
  `image_size = (height, width)` and feature maps of `grid_sizes` when offset = 0.

  Args:
    image_size: (height, width) of the (padded) input image.
    grid_sizes: (H_l, W_l) of each feature map; the stride is image_size // grid_size.
    sizes: per level, the anchor sizes (e.g. ((32,), (64,), ...) for an FPN).
    aspect_ratios: per level, the ratios h / w (e.g. ((0.5, 1.0, 2.0),) * levels).
  """
  if not len(grid_sizes) == len(sizes) == len(aspect_ratios):
    raise ValueError(f'one sizes and aspect_ratios entry per feature map: {len(grid_sizes)} maps, '
                     f'{len(sizes)} sizes, {len(aspect_ratios)} aspect_ratios')
  levels = []
  for g, s, stride, r in zip(grid_sizes, sizes, feature_strides(image_size, grid_sizes),
                             aspect_ratios):
    levels.append(grid_anchors(base_anchors(s, r, round_to_int), g, stride, offset))
  return jnp.concatenate(levels, axis=0)
