"""Host-side fitting of decoded examples to static shapes (numpy, per batch): images to the
model input (dtype, size, channels); ragged per-image objects to padded arrays + validity;
the Inception crop of training images of any size (`host_augment`)."""
import ast
import math
from typing import Callable

import numpy as np

RESIZE_METHODS = ('pad', 'resize')
EVAL_RESIZE_RATIO = 256 / 224  # ImageNet evaluation: shorter side to 256, centre 224 crop
HOST_AUGMENTS = ('inception_crop', 'flip_lr')


def _resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """uint8 [H, W, C] -> [height, width, C], PIL bilinear (antialiased when shrinking)."""
  from PIL import Image  # matplotlib's and scikit-image's dependency
  if image.shape[:2] == (height, width):
    return image
  planes = [np.asarray(Image.fromarray(np.ascontiguousarray(image[..., k])).resize(
      (width, height), Image.BILINEAR)) for k in range(image.shape[-1])]
  return np.stack(planes, axis=-1)


def inception_crop_box(height: int, width: int, rng: np.random.Generator,
                       scale: tuple[float, float] = (0.08, 1.0),
                       ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
  """The Inception crop (Szegedy et al. 2015; torchvision's RandomResizedCrop.get_params):
  (top, left, h, w) of a box of area s * H * W, s ~ U(scale), aspect w / h = r,
  log r ~ U(log ratio): w = round(sqrt(s H W r)), h = round(sqrt(s H W / r)), placed
  uniformly. Up to 10 draws until the box fits; then the fallback: the centre crop of the
  whole image with its aspect clamped to `ratio`."""
  area = height * width
  log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
  for _ in range(10):
    target = area * rng.uniform(*scale)
    aspect = math.exp(rng.uniform(log_lo, log_hi))
    w = int(round(math.sqrt(target * aspect)))
    h = int(round(math.sqrt(target / aspect)))
    if 0 < w <= width and 0 < h <= height:
      return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
  if width / height < ratio[0]:
    w, h = width, int(round(width / ratio[0]))
  elif width / height > ratio[1]:
    h, w = height, int(round(height * ratio[1]))
  else:
    h, w = height, width
  return (height - h) // 2, (width - w) // 2, h, w


def _parse_host_augment(spec: str) -> list[tuple[str, dict]]:
  """'inception_crop(scale=(0.2, 1.0))|flip_lr' -> [(name, literal kwargs)], validated."""
  allowed = {'inception_crop': {'scale', 'ratio'}, 'flip_lr': {'p'}}
  ops = []
  for part in filter(None, (p.strip() for p in (spec or '').split('|'))):
    try:
      node = ast.parse(part, mode='eval').body
      call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
      name = node.func.id if call else node.id
      kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords} if call else {}
    except (SyntaxError, ValueError, AttributeError):
      raise ValueError(f'Host augmentation {part!r} is not NAME or NAME(arg=literal, ...) '
                       '(config.data.host_augment).') from None
    if name not in allowed:
      raise ValueError(f'Unknown host augmentation {name!r} in {spec!r}; choose from '
                       f'{list(HOST_AUGMENTS)} (config.data.host_augment).')
    if set(kwargs) - allowed[name]:
      raise ValueError(f'{name} takes no argument(s) {sorted(set(kwargs) - allowed[name])}; it '
                       f'takes {sorted(allowed[name])} (config.data.host_augment).')
    ops.append((name, kwargs))
  return ops


def host_augment(spec: str, size: int) -> Callable[[dict, list], dict] | None:
  """config.data.host_augment, e.g. 'inception_crop|flip_lr' -> `augment(examples, rngs)`:
  per training image of any size (an object array of uint8 [H, W, C] or a stacked array),
  with its own numpy Generator: inception_crop(scale=(0.08, 1), ratio=(3/4, 4/3)) crops the
  `inception_crop_box` and resizes it to size x size (PIL bilinear, as torchvision on PIL
  images); flip_lr(p=0.5) mirrors it. The result is a stacked uint8 [N, size, size, C]
  (static shape for the jitted step). '' -> None (no host augmentation)."""
  ops = _parse_host_augment(spec)
  if not ops:
    return None
  if ops[0][0] != 'inception_crop':
    raise ValueError(f'config.data.host_augment={spec!r} must start with inception_crop (it '
                     'gives the images one size); flips on fixed-size images belong in '
                     'config.data.augment (on device).')

  def one(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    for name, kwargs in ops:
      if name == 'inception_crop':
        top, left, h, w = inception_crop_box(*image.shape[:2], rng, **kwargs)
        image = _resize(image[top:top + h, left:left + w], size, size)
      elif rng.uniform() < kwargs.get('p', 0.5):
        image = image[:, ::-1]
    return image

  def augment(examples: dict, rngs: list) -> dict:
    images = [one(np.asarray(im), rng) for im, rng in zip(examples['image'], rngs)]
    return {**examples, 'image': np.ascontiguousarray(np.stack(images))}

  return augment


def resize_centre_crop(image: np.ndarray, size: int, ratio: float = EVAL_RESIZE_RATIO) -> np.ndarray:
  """uint8 [H, W, C] of any size -> uint8 [size, size, C]: the shorter side resized to
  round(size * ratio) (bilinear, antialiased when shrinking: PIL's, as torchvision's
  Resize(256) on PIL images), then the centre size x size crop (CenterCrop(224)).
  Variable-size datasets (ImageNet) get static shapes this way on the host."""
  h, w, c = image.shape
  short = int(round(size * ratio))
  if min(h, w) != short:
    nh, nw = (short, max(size, int(round(w * short / h)))) if h <= w else \
        (max(size, int(round(h * short / w))), short)
    image = _resize(image, nh, nw)
    h, w = nh, nw
  top, left = (h - size) // 2, (w - size) // 2
  return image[top:top + size, left:left + size]


def prepare_images(images: np.ndarray, size: int, method: str, channels: int) -> np.ndarray:
  """uint8 [N, H, W, C] -> float32 [N, size, size, channels] in [0, 1].

  method 'pad': centre zero-padding (LeNet-5 read 28x28 digits padded to 32x32);
  'resize': bilinear resampling with antialiasing. Grayscale is repeated to 3 channels
  when `channels` is 3 (for ImageNet-style models on MNIST).
  """
  if method not in RESIZE_METHODS:
    raise ValueError(f'Unknown resize {method!r}; choose one of {list(RESIZE_METHODS)} (config.data.resize).')
  if images.dtype == object:  # examples of different sizes (e.g. ImageNet): one by one
    if method != 'resize':
      raise ValueError('The images have different sizes; padding cannot give them one: set '
                       'config.data.resize="resize" (shorter side to 256/224 x image_size, '
                       'centre crop).')
    images = np.stack([resize_centre_crop(np.asarray(im), size) for im in images])
  x = images.astype(np.float32) / 255.0
  n, h, w, c = x.shape
  if (h, w) != (size, size):
    if method == 'pad':
      if h > size or w > size:
        raise ValueError(f'Images are {h}x{w}, larger than image_size {size}: padding cannot '
                         'shrink them; set config.data.resize="resize" or a larger image_size.')
      top, left = (size - h) // 2, (size - w) // 2
      x = np.pad(x, ((0, 0), (top, size - h - top), (left, size - w - left), (0, 0)))
    else:
      import jax  # resampling is jax.image's (antialiased bilinear), run on the host CPU
      with jax.default_device(jax.local_devices(backend='cpu')[0]):
        x = np.asarray(jax.image.resize(x, (n, size, size, c), 'bilinear', antialias=True))
  if c != channels:
    if c == 1 and channels == 3:
      x = np.repeat(x, 3, axis=-1)
    elif c == 3 and channels == 1:
      x = x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]  # ITU-R 601 luma
    else:
      raise ValueError(f'Cannot turn {c}-channel images into {channels} (config.data.channels).')
  return np.ascontiguousarray(x, np.float32)


def pad_ragged(rows, size: int, fill: float = 0.0, dtype=np.float32,
               trailing: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
  """A list of N arrays [n_i, ...] (e.g. each image's boxes [n_i, 4] or landmarks) ->
  (padded [N, size, ...] filled with `fill`, valid bool [N, size]): static shapes for jit.
  An image with more than `size` rows is an error naming the limit, not a silent cut.
  `trailing`: the per-row shape (e.g. (4,) for boxes); default: that of the first row with
  2+ dims (so a batch where every image has no boxes [0, 4] still gives [N, size, 4])."""
  rows = [np.asarray(r, dtype) for r in rows]
  if trailing is None:
    trailing = next((r.shape[1:] for r in rows if r.ndim > 1), ())
  out = np.full((len(rows), size, *trailing), fill, dtype)
  valid = np.zeros((len(rows), size), bool)
  for i, r in enumerate(rows):
    if len(r) > size:
      raise ValueError(f'Example {i} has {len(r)} objects, more than the padded size {size}; '
                       'raise the task\'s maximum (e.g. config.data.max_boxes).')
    if len(r):
      out[i, :len(r)] = r
      valid[i, :len(r)] = True
  return out, valid
