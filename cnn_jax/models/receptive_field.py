"""Receptive fields from layer arithmetic, and the dataset patches that excite a unit most.

For a chain of layers with kernel k, stride s, padding p (course: n_out = floor((n + 2p -
k) / s) + 1), a unit at output index i sees input pixels centred on start + i * jump over
`size` pixels, where, layer by layer from (jump, size, start) = (1, 1, 0):

    size  <- size + (k - 1) * jump
    start <- start + ((k - 1) / 2 - p) * jump
    jump  <- jump * s

(Zeiler & Fergus 2014, Fig. 2, show the top-9 image patches of a unit cropped this way.)

    rf = chain_receptive_field(vgg_layers(19, 'conv4_1'))     # RF(jump=8, size=60, start=-21)
    box = rf.box(i, j)                  # (y0, x0, y1, x1), may leave the image
    top = TopK.init(k=9, channels=C); top = top.update(acts, image_ids) per batch
"""
import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.models.mobilenet import V2_STAGES
from cnn_jax.models.vgg import CONFIGS, DEPTHS


class RF(NamedTuple):
  """jump (input pixels per output step), size (pixels seen), start (centre of unit 0)."""
  jump: int
  size: int
  start: float

  def box(self, i: int, j: int) -> tuple[int, int, int, int]:
    """(y0, x0, y1, x1), half-open, of output unit (i, j): may extend past the image (padding)."""
    half = (self.size - 1) / 2
    cy, cx = self.start + i * self.jump, self.start + j * self.jump
    return (int(round(cy - half)), int(round(cx - half)), int(round(cy + half)) + 1,
            int(round(cx + half)) + 1)


def chain_receptive_field(layers: list[tuple[int, int, int]]) -> RF:
  """RF of the last layer of a chain of (kernel, stride, padding) layers (module doc)."""
  jump, size, start = 1, 1, 0.0
  for k, s, p in layers:
    size += (k - 1) * jump
    start += ((k - 1) / 2 - p) * jump
    jump *= s
  return RF(jump, size, start)


def vgg_layers(depth: int, layer: str) -> list[tuple[int, int, int]]:
  """(k, s, p) of the zoo VGG's convs and pools up to 'convB_K' (its ReLU output)."""
  out, block, conv = [], 1, 0
  for entry in CONFIGS[DEPTHS[depth]]:
    if entry == 'M':
      out.append((2, 2, 0))
      block, conv = block + 1, 0
      continue
    conv += 1
    out.append((3, 1, 1))
    last = f'conv{block}_{conv}'
    if last == layer:
      return out
  raise ValueError(f'VGG-{depth} has no layer {layer!r}; its layers are conv1_1 ... {last}.')


def mobilenet_v2_layers(layer: str) -> list[tuple[int, int, int]]:
  """(k, s, p) of the zoo MobileNetV2 up to module 'features/<i>' (0: the 3x3/2 stem, 1-17:
  inverted residuals, whose only spatial conv is the depthwise 3x3/s with padding 1; the 1x1s
  and the shortcut add nothing to the field; 18: the last 1x1)."""
  out = [(3, 2, 1)]
  for t, c, n, s in V2_STAGES:
    out += [(3, s if i == 0 else 1, 1) for i in range(n)]
  out.append((1, 1, 0))
  names = [f'features/{i}' for i in range(len(out))]
  if layer not in names:
    raise ValueError(f'MobileNetV2 has no layer {layer!r}; its layers are {names[0]} ... '
                     f'{names[-1]}.')
  return out[:names.index(layer) + 1]


@dataclasses.dataclass
class TopK:
  """Streaming top-k per channel over a dataset: values `[C, k]` and where they were
  (image id, row, col) `[C, k, 3]`, updated batch by batch (`update`, jit-friendly).
  `one_per_image`: each image contributes at most its best position per channel (Zeiler &
  Fergus' grids show k different images, not k neighbouring positions of one)."""
  values: jax.Array
  where: jax.Array
  one_per_image: bool = False

  @classmethod
  def init(cls, k: int, channels: int, one_per_image: bool = False) -> 'TopK':
    return cls(jnp.full((channels, k), -jnp.inf), jnp.full((channels, k, 3), -1, jnp.int32),
               one_per_image)

  def update(self, acts: jax.Array, image_ids: jax.Array) -> 'TopK':
    """Merges a batch of activations `[N, h, w, C]` of images `image_ids` `[N]`."""
    n, h, w, c = acts.shape
    k = self.values.shape[1]
    if self.one_per_image:
      per = jnp.transpose(acts, (3, 0, 1, 2)).reshape(c, n, h * w)
      pos = jnp.argmax(per, -1)                                   # [C, N]
      vals = jnp.take_along_axis(per, pos[..., None], -1)[..., 0]
      where = jnp.stack([jnp.broadcast_to(image_ids, (c, n)), pos // w, pos % w], -1)
      vals, pick = jax.lax.top_k(vals, min(k, n))
      where = jnp.take_along_axis(where, pick[..., None], 1).astype(jnp.int32)
    else:
      flat = jnp.transpose(acts, (3, 0, 1, 2)).reshape(c, n * h * w)
      vals, idx = jax.lax.top_k(flat, min(k, n * h * w))
      where = jnp.stack([image_ids[idx // (h * w)], (idx // w) % h, idx % w], -1)
      where = where.astype(jnp.int32)
    all_vals = jnp.concatenate([self.values, vals], 1)
    all_where = jnp.concatenate([self.where, where], 1)
    best, pick = jax.lax.top_k(all_vals, k)
    return TopK(best, jnp.take_along_axis(all_where, pick[..., None], 1), self.one_per_image)


jax.tree_util.register_dataclass(TopK, data_fields=['values', 'where'],
                                 meta_fields=['one_per_image'])


def crop_patch(image: np.ndarray, box: tuple[int, int, int, int], fill: float = 0.5) -> np.ndarray:
  """The `box` region of `[H, W, C]` `image`, parts outside the image filled with `fill`
  (so every patch of a unit has the same size and shows where the border was)."""
  y0, x0, y1, x1 = box
  out = np.full((y1 - y0, x1 - x0, image.shape[2]), fill, image.dtype)
  h, w = image.shape[:2]
  sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y1, h), min(x1, w)
  if sy1 > sy0 and sx1 > sx0:
    out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = image[sy0:sy1, sx0:sx1]
  return out
