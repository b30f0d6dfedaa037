"""Host-side fitting of decoded examples to static shapes (numpy, per batch): images to the
model input (dtype, size, channels); ragged per-image objects to padded arrays + validity."""
import numpy as np

RESIZE_METHODS = ('pad', 'resize')
EVAL_RESIZE_RATIO = 256 / 224  # ImageNet evaluation: shorter side to 256, centre 224 crop


def resize_centre_crop(image: np.ndarray, size: int, ratio: float = EVAL_RESIZE_RATIO) -> np.ndarray:
  """uint8 [H, W, C] of any size -> uint8 [size, size, C]: the shorter side resized to
  round(size * ratio) (bilinear, antialiased when shrinking: PIL's, as torchvision's
  Resize(256) on PIL images), then the centre size x size crop (CenterCrop(224)).
  Variable-size datasets (ImageNet) get static shapes this way on the host."""
  from PIL import Image  # matplotlib's and scikit-image's dependency
  h, w, c = image.shape
  short = int(round(size * ratio))
  if min(h, w) != short:
    nh, nw = (short, max(size, int(round(w * short / h)))) if h <= w else \
        (max(size, int(round(h * short / w))), short)
    planes = [np.asarray(Image.fromarray(image[..., k]).resize((nw, nh), Image.BILINEAR))
              for k in range(c)]
    image = np.stack(planes, axis=-1)
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
