"""P x K batches for triplet mining: P identities, K images of each (Hermans et al. 2017).

    sampler = PKSampler(labels, p=6, k=4, seed=0)
    idx = sampler(step)        # int64 [P*K]: identity 1's K images, identity 2's K images, ...

Deterministic and resumable: batch `step` is a pure function of (labels, P, K, seed, step),
drawn with numpy's generator seeded by (seed, step) - a run resumed at step s sees exactly
the batches an uninterrupted one would, with no sampler state to checkpoint. Within a batch
the P identities are distinct and each identity's K images are distinct. Identities are drawn
uniformly (not in proportion to their image count), as FaceNet's and PML's MPerClassSampler
do. It plugs into `data.pipeline.train_batches(..., sampler=sampler)`.
"""
import numpy as np


class PKSampler:
  """Callable `step -> indices [P*K]` into the examples `labels` [N] describes.

  Raises ValueError when fewer than P identities have K images, naming the short ones.
  """

  def __init__(self, labels: np.ndarray, p: int, k: int, seed: int = 0):
    labels = np.asarray(labels)
    if labels.ndim != 1:
      raise ValueError(f'labels must be [N] integers, got shape {labels.shape}.')
    if p < 2 or k < 2:
      raise ValueError(f'A P x K batch needs P >= 2 identities and K >= 2 images each (got P={p}, '
                       f'K={k}): triplets need a positive and a negative.')
    ids, counts = np.unique(labels, return_counts=True)
    short = ids[counts < k]
    if short.size:
      detail = ', '.join(f'{i} ({c})' for i, c in zip(short[:10], counts[counts < k][:10]))
      raise ValueError(f'K={k} images per identity, but identities {detail}'
                       f'{" ..." if short.size > 10 else ""} have fewer: lower K '
                       '(config.data.k) or drop those identities.')
    if p > len(ids):
      raise ValueError(f'P={p} identities per batch, but only {len(ids)} exist (config.data.p).')
    self.p, self.k, self.seed = p, k, seed
    self.ids = ids
    self.members = [np.flatnonzero(labels == i) for i in ids]

  @property
  def batch_size(self) -> int:
    return self.p * self.k

  def __call__(self, step: int) -> np.ndarray:
    rng = np.random.default_rng([self.seed, int(step)])
    chosen = rng.choice(len(self.ids), self.p, replace=False)
    return np.concatenate([rng.choice(self.members[c], self.k, replace=False) for c in chosen])
