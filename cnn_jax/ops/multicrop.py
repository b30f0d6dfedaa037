"""Test-time views of an image batch: the mirror pair and AlexNet/GoogLeNet's ten crops.

The course (§2.4.4, "state of computer vision") lists multi-crop at test time among the
tricks that win benchmarks but are rarely worth their cost in production: the network is
run on V views of each test image and its softmax outputs are averaged,

    p(y | x) = (1 / V) * sum_v softmax(f(view_v(x)))_y ,

which costs V forward passes. Views here (pure jnp, jit-traceable, static shapes):

- 'flip': the image and its horizontal mirror (V = 2);
- 'ten_crop': the four corner crops and the centre crop of side `size`, then the same five
  crops of the mirrored image (V = 10; AlexNet 2012 took 224 crops of a 256 image);
- 'five_crop': the five crops without mirrors (V = 5), for data whose mirror image is
  another class or no class at all (digits, text).

Crops of the mirrored image are the mirrors of the opposite-corner crops of the original
(and of the centre crop when W - size is even), so the ten views are the five crops and
their mirrors. The centre crop starts at
floor((H - size) / 2) (torchvision rounds half-way cases up; with an even border, as the
evaluators use, the two agree).
"""
import jax
import jax.numpy as jnp

MODES = ('flip', 'five_crop', 'ten_crop')
NUM_VIEWS = {'flip': 2, 'five_crop': 5, 'ten_crop': 10}


def _check(images: jax.Array) -> None:
  if images.ndim != 4:
    raise ValueError(f'Multi-crop takes NHWC images [B, H, W, C]; got shape {images.shape}.')


def crop_offsets(height: int, width: int, size: int) -> tuple[tuple[int, int], ...]:
  """(top, left) of the five crops of side `size` in an H x W image: top-left,
  top-right, bottom-left, bottom-right, centre."""
  if size > min(height, width) or size <= 0:
    raise ValueError(f'Crop size {size} must be in [1, {min(height, width)}] for {height}x{width} '
                     'images; lower the crop or raise config.eval.crop_border.')
  bottom, right = height - size, width - size
  return ((0, 0), (0, right), (bottom, 0), (bottom, right), (bottom // 2, right // 2))


def five_crop(images: jax.Array, size: int) -> jax.Array:
  """[B, H, W, C] -> [5, B, size, size, C]: corners (tl, tr, bl, br) then the centre."""
  _check(images)
  _, h, w, _ = images.shape
  return jnp.stack([images[:, t:t + size, l:l + size] for t, l in crop_offsets(h, w, size)])


def mirror(images: jax.Array) -> jax.Array:
  """Horizontal mirror of [..., H, W, C] images (the width axis reversed)."""
  return jnp.flip(images, axis=-2)


def flip_views(images: jax.Array) -> jax.Array:
  """[B, H, W, C] -> [2, B, H, W, C]: the images, then their mirrors."""
  _check(images)
  return jnp.stack([images, mirror(images)])


def ten_crop(images: jax.Array, size: int) -> jax.Array:
  """[B, H, W, C] -> [10, B, size, size, C]: `five_crop` of the images, then `five_crop` of
  their mirrors (torchvision's TenCrop order)."""
  return jnp.concatenate([five_crop(images, size), five_crop(mirror(images), size)])


def views(images: jax.Array, mode: str, size: int | None = None) -> jax.Array:
  """[B, H, W, C] -> [V, B, h, w, C] for `mode` in MODES (the crops need `size`)."""
  if mode == 'flip':
    return flip_views(images)
  if mode in ('five_crop', 'ten_crop'):
    if size is None:
      raise ValueError(f'{mode!r} needs the crop size.')
    return five_crop(images, size) if mode == 'five_crop' else ten_crop(images, size)
  raise ValueError(f'Unknown multi-crop mode {mode!r}; choose one of {list(MODES)} '
                   '(config.eval.multicrop).')


def average_probabilities(logits: jax.Array) -> jax.Array:
  """[V, B, K] logits of V views (or V ensemble members) -> [B, K] mean softmax,
  (1 / V) * sum_v softmax(logits_v)."""
  return jax.nn.softmax(logits.astype(jnp.float32), axis=-1).mean(axis=0)
