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
  """name; train and test splits; num_classes; class_names (strings, for pictures)."""
  name: str
  train: Split
  test: Split
  num_classes: int
  class_names: tuple[str, ...]
