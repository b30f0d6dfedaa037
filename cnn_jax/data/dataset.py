"""The dataset types every source returns: a `Dataset` of random-access `Split`s.

    ds.train.get(np.array([0, 5, 7])) -> {'image': uint8 [3, H, W, C], 'label': int32 [3]}

Loaders live in `data.sources` (the registry) and the modules it names (`tfds_source`,
`canvases`, `windows`, `nuclei`, ...); they all import these types from here.
"""
import dataclasses
from typing import Protocol

import numpy as np


class DatasetNotFoundError(FileNotFoundError):
  """The dataset is not on this machine; the message says how to get it."""


class LabelOutOfRangeError(ValueError):
  """A class label outside [0, num_classes): on device it would be a wrong one-hot, silently."""


def check_labels(labels: np.ndarray, num_classes: int, where: str, indices=None) -> None:
  """Raises LabelOutOfRangeError naming the first label outside [0, num_classes), its
  example index (`indices[i]` when given, else i) and the keys to change. `where`: e.g.
  "the train split of 'fashion_mnist'". Integer class labels [N] only."""
  labels = np.asarray(labels)
  bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
  if bad.size:
    i = int(bad[0])
    index = int(indices[i]) if indices is not None else i
    raise LabelOutOfRangeError(
        f'Label {int(labels[i])} of example {index} in {where} is outside 0..{num_classes - 1} '
        f'(the dataset declares {num_classes} classes; {bad.size} such label(s) here). '
        'The labels must be class indices below config.model.num_classes: fix the data '
        '(config.data.dir, the files it reads) or point config.data.name at the dataset '
        'those labels belong to.')


class Split(Protocol):
  """A random-access split: `len(split)` examples, `get(indices)` a batch of them."""

  def __len__(self) -> int: ...

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]: ...


@dataclasses.dataclass
class ArraySplit:
  """A split held in memory: images uint8 [N, H, W, C], labels int32 [N]."""
  images: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {'image': self.images[indices], 'label': self.labels[indices]}


@dataclasses.dataclass
class Dataset:
  """name; train and test splits; num_classes; class_names (strings, for pictures).
  In-memory integer labels must lie in [0, num_classes) (LabelOutOfRangeError otherwise)."""
  name: str
  train: Split
  test: Split
  num_classes: int
  class_names: tuple[str, ...]

  def __post_init__(self):
    # In-memory class labels are checked once here (cheap); TfdsSplit checks each batch.
    for split_name in ('train', 'test'):
      split = getattr(self, split_name)
      if isinstance(split, ArraySplit) and np.ndim(split.labels) == 1 and \
          np.issubdtype(np.asarray(split.labels).dtype, np.integer):
        check_labels(split.labels, self.num_classes,
                     f'the {split_name} split of {self.name!r}')
