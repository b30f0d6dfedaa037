"""What torchvision's ImageNet weights assume: the 1000 class names and eval preprocessing.

Preprocessing is torchvision's `ImageClassification(crop_size=224, resize_size=256,
interpolation=BILINEAR, antialias=True)` (the `weights.transforms()` of every classifier) on
a uint8 image:

    1. resize so the shorter side is 256: (h, w) -> (256, int(256 * w / h)) for h <= w
       (torchvision truncates the long side), bilinear with antialiasing (a triangle filter
       widened by the downscale factor, as PIL), result rounded to uint8 as torchvision does
       for uint8 input;
    2. center crop 224: top = round((H - 224) / 2), left = round((W - 224) / 2) (Python's
       round, half to even, as torchvision);
    3. x / 255, then (x - mean) / std with mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225).

    x = preprocess(skimage.data.chelsea())            # [224, 224, 3] float32, NHWC-ready
    names = class_names()                              # names[285] == 'Egyptian cat'
"""
import functools
import importlib.resources

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops.normalize import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD


@functools.cache
def class_names() -> tuple[str, ...]:
  """The 1000 ImageNet-1k class names in torchvision's index order (imagenet_classes.txt,
  from torchvision's `_IMAGENET_CATEGORIES`)."""
  text = importlib.resources.files('cnn_jax.weights').joinpath('imagenet_classes.txt').read_text()
  names = tuple(line for line in text.splitlines() if line)
  if len(names) != 1000:
    raise ValueError(f'imagenet_classes.txt has {len(names)} names, expected 1000.')
  return names


def resized_size(height: int, width: int, shorter: int = 256) -> tuple[int, int]:
  """torchvision's Resize(int) output size: shorter side -> `shorter`, long side truncated."""
  if height <= width:
    return shorter, int(shorter * width / height)
  return int(shorter * height / width), shorter


def resize_uint8(image, size: tuple[int, int]) -> jax.Array:
  """`[H, W, C]` uint8 (or float in 0..255) -> `[h, w, C]` float32 holding integers 0..255:
  antialiased bilinear (`jax.image.resize`, linear, antialias=True), rounded and clipped."""
  x = jnp.asarray(image, jnp.float32)
  y = jax.image.resize(x, (*size, x.shape[-1]), method='linear', antialias=True)
  return jnp.clip(jnp.round(y), 0, 255)


def center_crop(image, size: int = 224):
  """`[H, W, C]` -> `[size, size, C]` with torchvision's offsets (round half to even)."""
  h, w = image.shape[:2]
  if h < size or w < size:
    raise ValueError(f'Image {h}x{w} is smaller than the {size} crop.')
  top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
  return image[top:top + size, left:left + size]


def normalize(image) -> jax.Array:
  """uint8-valued `[..., 3]` -> (x / 255 - mean) / std, float32."""
  x = jnp.asarray(image, jnp.float32) / 255.0
  return (x - jnp.asarray(MEAN, jnp.float32)) / jnp.asarray(STD, jnp.float32)


def preprocess(image, resize: int = 256, crop: int = 224) -> jax.Array:
  """torchvision's ImageNet eval transform on one `[H, W, 3]` uint8 image -> `[crop, crop, 3]`.

  Floats in [0, 1] are taken as x * 255 (then rounded to uint8 levels like torchvision's
  `ToImage`/`pil_to_tensor` input). Gray `[H, W]` images are repeated to 3 channels.
  """
  image = np.asarray(image)
  if image.dtype != np.uint8:
    image = np.clip(np.round(image.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  image = image[..., :3]
  resized = resize_uint8(image, resized_size(*image.shape[:2], shorter=resize))
  return normalize(center_crop(resized, crop))


def top_k(logits, k: int = 5) -> list[list[tuple[int, str, float]]]:
  """`[N, 1000]` logits -> per image the k (class index, name, softmax probability)."""
  probs = np.asarray(jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1))
  names = class_names()
  order = np.argsort(-probs, axis=-1)[:, :k]
  return [[(int(i), names[i], float(p[i])) for i in row] for row, p in zip(order, probs)]
