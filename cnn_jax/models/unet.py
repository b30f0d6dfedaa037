"""U-Net (Ronneberger, Fischer & Brox 2015): the paper's VALID network and a SAME variant.

    models.create('unet', num_classes=2)                      # the paper: 572x572 -> 388x388
    models.create('unet', num_classes=2, padding='SAME', widths=(16, 32, 64), batch_norm=True)

Contracting path: per level two 3x3 convs (+ ReLU) then a 2x2/2 max pool; widths 64, 128,
256, 512 and 1024 at the bottom. Expanding path: a 2x2/2 transpose conv halving the width
(`ops.conv_transpose`, PyTorch's ConvTranspose2d), the contracting path's map at that level
centre-cropped to the same size and concatenated [skip, up], two 3x3 convs; a 1x1 conv to
`num_classes` logits. With padding='VALID' (the paper) each 3x3 conv loses 2 pixels, so
572 -> 568 -> 284 -> ... -> 28 (bottom) -> ... -> 388: the output is the centre of the input,
each output pixel seeing a 185x185 window (`valid_sizes`, `margin`); an input whose size
makes a pool see an odd map is an error naming the nearest sizes that work. With 'SAME' the
output is the input size (sizes divisible by 2^depth). `models.summarize(model, (572, 572, 1),
depth=2)` prints the paper's shape table.

Overlap-tile inference (`predict_overlap_tile`): large images are run tile by tile, each
input tile carrying a `margin` of context, the image mirrored at its borders (the paper's
Fig. 2); tiles start on multiples of 2^depth so every pool sees the same grid as the whole
image, and the stitched output equals the whole-image output exactly.
"""
import itertools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.nn.conv import Conv
from cnn_jax.nn.pooling import MaxPool
from cnn_jax.ops.conv_transpose import conv_transpose

# The paper's init: N(0, sqrt(2 / N)), N = inputs of one unit (3x3 x C_in): He fan-in.
he_normal = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')


class ConvTranspose(nn.Module):
  """`[N, H, W, C] -> [N, (H - 1) s + f, (W - 1) s + f, features]`, PyTorch's ConvTranspose2d
  (padding 0): each input cell scatters kernel * value onto an f x f patch at stride s and
  overlaps are summed. 'kernel' `[f, f, C_in, features]` (PyTorch's `[C_in, C_out, f, f]`
  moved back); He init over the C_in (f / s)^2 inputs each output cell really receives."""
  features: int
  kernel_size: int = 2
  strides: int = 2
  use_bias: bool = True
  impl: str = 'xla'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    f, s = self.kernel_size, self.strides
    fan_in = x.shape[-1] * max(1.0, (f / s) ** 2)
    init = nn.initializers.normal(math.sqrt(2.0 / fan_in))
    w = self.param('kernel', init, (f, f, x.shape[-1], self.features))
    b = self.param('bias', nn.initializers.zeros, (self.features,)) if self.use_bias else None
    return conv_transpose(x.astype(self.dtype), w.astype(self.dtype),
                          None if b is None else b.astype(self.dtype), strides=s, impl=self.impl)


class DoubleConv(nn.Module):
  """Two (3x3 conv -> [BN] -> ReLU): `[N, H, W, C] -> [N, H - 4, W - 4, features]` (VALID) or
  `[N, H, W, features]` (SAME)."""
  features: int
  padding: str = 'VALID'
  batch_norm: bool = False
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i in (1, 2):
      x = Conv(self.features, (3, 3), padding=self.padding, use_bias=not self.batch_norm,
               kernel_init=he_normal, impl=self.conv_impl, dtype=self.dtype, name=f'conv{i}')(x)
      if self.batch_norm:
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, name=f'bn{i}')(x)
      x = nn.relu(x)
    return x


def valid_output_size(n: int, depth: int) -> int | None:
  """The VALID U-Net's output size for input size n with `depth` pools, or None when some pool
  would see an odd (or empty) map: down n -> (n - 4) / 2 per level, bottom n - 4, up 2n - 4."""
  for _ in range(depth):
    n -= 4
    if n <= 0 or n % 2:
      return None
    n //= 2
  n -= 4
  if n <= 0:
    return None
  for _ in range(depth):
    n = 2 * n - 4
  return n if n > 0 else None


def valid_sizes(n: int, depth: int) -> tuple[int | None, int]:
  """The nearest input sizes <= n and >= n that the VALID U-Net takes (None if none below).
  They are spaced 2^depth apart (572 for depth 4: 556, 572, 588, ...)."""
  lower = next((m for m in range(n, 0, -1) if valid_output_size(m, depth)), None)
  upper = next(m for m in itertools.count(max(n, 1)) if valid_output_size(m, depth))
  return lower, upper


def margin(depth: int) -> int:
  """Context pixels lost on each side by the VALID U-Net: (input - output) / 2
  (92 for the paper's depth 4: 572 -> 388)."""
  n = valid_sizes(1, depth)[1]
  return (n - valid_output_size(n, depth)) // 2


def centre_crop(x: jax.Array, height: int, width: int) -> jax.Array:
  """`[N, H, W, C]` -> its centre `[N, height, width, C]` (the paper's skip-connection crop)."""
  top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
  return x[:, top:top + height, left:left + width]


class UNet(nn.Module):
  """`[N, H, W, C] -> [N, H', W', num_classes]` per-pixel logits.

  Attributes:
    num_classes: output channels (2 in the paper: cell / background).
    widths: channels per level, the last one the bottom (the paper's (64, 128, 256, 512, 1024));
      depth = len(widths) - 1 pools.
    padding: 'VALID' (the paper: H' = H - 2 margin, sizes from `valid_sizes`) or 'SAME'
      (H' = H, H and W divisible by 2^depth).
    batch_norm: conv -> BN -> ReLU (not in the paper; steadies small-batch training).
    conv_impl: the `nn.Conv` / transpose conv formulation. dtype: compute dtype.
  """
  num_classes: int = 2
  widths: Sequence[int] = (64, 128, 256, 512, 1024)
  padding: str = 'VALID'
  batch_norm: bool = False
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @property
  def depth(self) -> int:
    return len(self.widths) - 1

  def check_size(self, height: int, width: int) -> None:
    """ValueError naming the nearest sizes that work when H or W does not."""
    if self.padding not in ('VALID', 'SAME'):
      raise ValueError(f"UNet padding {self.padding!r}; choose 'VALID' (the paper) or 'SAME'.")
    for name, n in (('height', height), ('width', width)):
      if self.padding == 'VALID' and valid_output_size(n, self.depth) is None:
        lo, hi = valid_sizes(n, self.depth)
        raise ValueError(
            f'The VALID U-Net (depth {self.depth}) cannot take input {name} {n}: a 2x2 pool '
            f'would see an odd-sized map. Nearest sizes that work: {lo} and {hi} (outputs '
            f'{valid_output_size(lo, self.depth) if lo else None} and '
            f'{valid_output_size(hi, self.depth)}); or use padding=\'SAME\'.')
      step = 2 ** self.depth
      if self.padding == 'SAME' and n % step:
        raise ValueError(f'The SAME U-Net (depth {self.depth}) needs {name} divisible by '
                         f'{step}; got {n}. Nearest sizes: {n // step * step or step} and '
                         f'{-(-n // step) * step}.')

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    self.check_size(x.shape[1], x.shape[2])
    block = dict(padding=self.padding, batch_norm=self.batch_norm, conv_impl=self.conv_impl,
                 dtype=self.dtype)
    skips = []
    for level, features in enumerate(self.widths[:-1], 1):
      x = DoubleConv(features, **block, name=f'down{level}')(x, train)
      skips.append(x)
      x = MaxPool((2, 2), name=f'pool{level}')(x)
    x = DoubleConv(self.widths[-1], **block, name='bottom')(x, train)
    for level in range(self.depth, 0, -1):
      features = self.widths[level - 1]
      x = ConvTranspose(features, impl=self.conv_impl, dtype=self.dtype, name=f'upconv{level}')(x)
      skip = centre_crop(skips[level - 1], x.shape[1], x.shape[2])
      x = jnp.concatenate([skip.astype(x.dtype), x], -1)
      x = DoubleConv(features, **block, name=f'up{level}')(x, train)
    return Conv(self.num_classes, (1, 1), kernel_init=he_normal, impl=self.conv_impl,
                dtype=self.dtype, name='head')(x)


def tile_starts(total: int, tile: int, step: int) -> list[int]:
  """Output-tile starts covering [0, total): multiples of `step` (<= tile), the last one at
  total - tile (also a multiple of `step` when total and tile are valid output sizes)."""
  stride = max(step, tile // step * step)
  starts = list(range(0, max(total - tile, 0) + 1, stride))
  if starts[-1] + tile < total:
    starts.append(total - tile)
  return starts


def predict_overlap_tile(apply_fn: Callable[[jax.Array], jax.Array], image: np.ndarray,
                         tile: int, depth: int) -> np.ndarray:
  """Per-pixel outputs `[H, W, K]` of a VALID U-Net for an image `[H, W, C]` of any size.

  The image is mirrored by `margin(depth)` on every side (plus up to 2^depth - 1 extra rows /
  columns at the bottom / right so that the padded size is valid); input tiles of size `tile`
  (a valid size) are cut at multiples of 2^depth, `apply_fn([1, tile, tile, C]) -> [1, o, o, K]`
  runs on each, and the outputs are stitched (overlaps hold equal values). Equals the output of
  `apply_fn` on the whole padded image (the receptive field of every output pixel lies in its
  tile).
  """
  height, width = image.shape[:2]
  m, step = margin(depth), 2 ** depth
  out_tile = valid_output_size(tile, depth)
  if out_tile is None:
    lo, hi = valid_sizes(tile, depth)
    raise ValueError(f'Tile size {tile} is not a valid VALID U-Net input; use {lo} or {hi}.')
  sizes = []
  for n in (height, width):  # output size >= n, valid, and at least one tile
    size = max(n, out_tile)
    while valid_output_size(size + 2 * m, depth) is None:
      size += 1
    sizes.append(size)
  padded = np.pad(np.asarray(image), ((m, m + sizes[0] - height), (m, m + sizes[1] - width),
                                      (0, 0)), mode='symmetric')
  out = None
  for top in tile_starts(sizes[0], out_tile, step):
    for left in tile_starts(sizes[1], out_tile, step):
      y = np.asarray(apply_fn(jnp.asarray(padded[None, top:top + tile, left:left + tile])))[0]
      if out is None:
        out = np.zeros((*sizes, y.shape[-1]), y.dtype)
      out[top:top + out_tile, left:left + out_tile] = y
  return out[:height, :width]
