"""Public-domain paintings for style transfer, taken from Debian packages (offline after once).

    PAINTINGS['starry_night']  Van Gogh, The Starry Night (1889), 752x600 JPEG, from Debian
                               `opencv-doc` (a 96 MB .deb; only this file is kept):
                               /usr/share/doc/opencv-doc/examples/data/starry_night.jpg
    PAINTINGS['scream']        Munch, The Scream (1893), 352x448 JPEG, from Debian `darknet`
                               (3.3 MB): /usr/share/darknet/data/scream.jpg

    style = load_painting('starry_night', max_side=512)   # [H, W, 3] float32 in [0, 1]

The file comes from `debian.fetch_member` (apt-get download + dpkg-deb --fsys-tarfile,
SHA-256 checked, cached under $CNN_JAX_CACHE or ~/.cache/cnn_jax). Where apt is unavailable
the error gives the command to run by hand; `path=` then reads a copy the user made (its
checksum still checked).
"""
import os

import numpy as np

from cnn_jax.data import debian
from cnn_jax.weights import files

# name -> `debian.MEMBERS` key (package/file, with its SHA-256 there).
PAINTINGS = {'starry_night': 'opencv-doc/starry_night.jpg', 'scream': 'darknet/scream.jpg'}


def painting_path(name: str, path: str | os.PathLike | None = None):
  """The verified local file of painting `name` (fetched and cached once when `path` is None)."""
  if name not in PAINTINGS:
    raise ValueError(f'Unknown painting {name!r}; choose one of {sorted(PAINTINGS)}.')
  if path is None:
    return debian.fetch_member(PAINTINGS[name])
  files.verify_sha256(path, debian.MEMBERS[PAINTINGS[name]].sha256)
  return path


def resize_max_side(image: np.ndarray, max_side: int | None) -> np.ndarray:
  """`[H, W, 3]` -> the same picture with its long side `max_side` (aspect kept, antialiased
  area-style resampling when shrinking); None or an equal size returns it unchanged."""
  if max_side is None or max(image.shape[:2]) == max_side:
    return image
  if max_side < 8:
    raise ValueError(f'max_side={max_side} is too small; use >= 8 pixels.')
  from skimage.transform import resize
  h, w = image.shape[:2]
  scale = max_side / max(h, w)
  shape = (max(1, round(h * scale)), max(1, round(w * scale)))
  return resize(image, shape, order=1, anti_aliasing=scale < 1, preserve_range=True
                ).astype(np.float32)


def _read(path) -> np.ndarray:
  from PIL import Image
  with Image.open(path) as image:
    return np.asarray(image.convert('RGB'))


def load_painting(name: str, max_side: int | None = None,
                  path: str | os.PathLike | None = None) -> np.ndarray:
  """Painting `name` ('starry_night' | 'scream') as `[H, W, 3]` float32 RGB in [0, 1].

  Args:
    max_side: resize so the long side is this many pixels (None: native size).
    path: a local copy of the file instead of fetching (checked against the SHA-256).
  """
  image = _read(painting_path(name, path))
  return resize_max_side(image.astype(np.float32) / 255.0, max_side)
