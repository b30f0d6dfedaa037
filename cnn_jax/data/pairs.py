"""Image pairs for verification as binary classification (Siamese training and testing).

    train = PairSplit(images, labels)                 # every ordered pair (i, j), implicit
    sampler = BalancedPairSampler(labels, num_pairs=16, seed=0)
    train.get(sampler(step))  # {'image': uint8 [16, 2, H, W, C], 'same': int32 [16], 'fold': [16]}
    test = PairSplit(images, labels, pairs, folds)    # e.g. metrics.verification.make_pairs

A pair is one example: `get` stacks its two images on axis 1, so a batch of pairs is one
array [B, 2, H, W, C] that the runner's pipeline, sharding and padding treat like any batch.
The sampler draws half same-person and half different-person pairs per batch (the raw share of
same pairs among all pairs of 30 ORL people is 1 in 33), as a pure function of (seed, step):
deterministic and resumable like `data.pk_sampler.PKSampler`. `images` may be a lazy view
(data.lfw's): only the photos of a batch are read.
"""
import dataclasses

import numpy as np


@dataclasses.dataclass
class PairSplit:
  """Pairs of rows of `images` [N, H, W, C] (an array, or any object that `images[indices]`
  reads; labels [N] are identities). `pairs` int [M, 2] lists the pairs (`folds` int [M]:
  verification folds, zeros when not given); pairs=None means every ordered pair, example
  i * N + j being (i, j) - N^2 of them, never materialised (what the sampler draws from)."""
  images: object
  labels: np.ndarray
  pairs: np.ndarray | None = None
  folds: np.ndarray | None = None

  def __post_init__(self):
    self.labels = np.asarray(self.labels)
    n = len(self.labels)
    if len(self.images) != n:
      raise ValueError(f'{len(self.images)} images but {n} labels.')
    if self.pairs is not None:
      self.pairs = np.asarray(self.pairs, np.int64)
      if self.pairs.ndim != 2 or self.pairs.shape[1] != 2:
        raise ValueError(f'pairs must be [M, 2] image indices, got shape {self.pairs.shape}.')
      if self.pairs.size and (self.pairs.min() < 0 or self.pairs.max() >= n):
        raise ValueError(f'pair indices must be in 0..{n - 1}.')
    m = n * n if self.pairs is None else len(self.pairs)
    self.folds = np.zeros(m, np.int32) if self.folds is None else np.asarray(self.folds, np.int32)

  def __len__(self) -> int:
    return len(self.labels) ** 2 if self.pairs is None else len(self.pairs)

  def pair(self, indices: np.ndarray) -> np.ndarray:
    """Example indices [B] -> image index pairs int [B, 2]."""
    indices = np.asarray(indices, np.int64)
    if self.pairs is None:
      n = len(self.labels)
      return np.stack([indices // n, indices % n], 1)
    return self.pairs[indices]

  @property
  def same(self) -> np.ndarray:
    """bool [M]: the listed pairs show one person (listed pairs only)."""
    if self.pairs is None:
      raise ValueError('same is defined for listed pairs; this split holds every pair.')
    return self.labels[self.pairs[:, 0]] == self.labels[self.pairs[:, 1]]

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    p = self.pair(indices)
    return {'image': np.stack([self.images[p[:, 0]], self.images[p[:, 1]]], 1),
            'same': (self.labels[p[:, 0]] == self.labels[p[:, 1]]).astype(np.int32),
            'fold': self.folds[np.asarray(indices, np.int64)] if self.pairs is not None
                    else np.zeros(len(p), np.int32)}


class BalancedPairSampler:
  """Callable `step -> indices [num_pairs]` into a `PairSplit(images, labels)` of every pair:
  num_pairs // 2 same-person pairs (a person with >= 2 photos drawn uniformly, then two
  distinct photos), then different-person pairs (two distinct people, one photo each)."""

  def __init__(self, labels: np.ndarray, num_pairs: int, seed: int = 0):
    labels = np.asarray(labels)
    if num_pairs < 2:
      raise ValueError(f'num_pairs={num_pairs}: a balanced batch needs at least 2 pairs.')
    ids, counts = np.unique(labels, return_counts=True)
    if len(ids) < 2 or not np.any(counts >= 2):
      raise ValueError(f'Balanced pairs need >= 2 people and one with >= 2 photos; the labels '
                       f'have {len(ids)} people, the largest with {counts.max(initial=0)} photos.')
    self.n = len(labels)
    self.members = [np.flatnonzero(labels == i) for i in ids]
    self.multi = np.flatnonzero(counts >= 2)
    self.num_pairs, self.n_same, self.seed = num_pairs, num_pairs // 2, seed

  def __call__(self, step: int) -> np.ndarray:
    rng = np.random.default_rng([self.seed, int(step)])
    out = []
    for person in rng.choice(self.multi, self.n_same):
      i, j = rng.choice(self.members[person], 2, replace=False)
      out.append(i * self.n + j)
    for a, b in (rng.choice(len(self.members), 2, replace=False)
                 for _ in range(self.num_pairs - self.n_same)):
      out.append(rng.choice(self.members[a]) * self.n + rng.choice(self.members[b]))
    return np.asarray(out, np.int64)
