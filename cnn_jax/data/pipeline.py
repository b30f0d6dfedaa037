"""Input pipelines: deterministic, resumable, sharded per process, prefetched (grain).

Train: batch k of the global stream is a pure function of (seed, k): grain shuffles the
example indices with a fresh permutation every epoch and repeats forever; process p of P
takes every P-th example of that stream, so a resumed run (start at step k) and a run
on more processes see the same global batches (up to the order within a batch).

Eval: the split is padded to whole batches; `mask` is 1 for real examples and 0 for
padding, so every test example counts exactly once on any number of processes.
"""
from typing import Iterator

import grain
import numpy as np

from cnn_jax.data.sources import Split
from cnn_jax.data.transforms import prepare_images


def _check_divisible(batch_size: int, num_processes: int, what: str) -> int:
  if batch_size % num_processes:
    raise ValueError(f'{what} {batch_size} must be divisible by the {num_processes} processes.')
  return batch_size // num_processes


def train_batches(split: Split, batch_size: int, *, seed: int, start_step: int = 0,
                  image_size: int, resize: str, channels: int, process_index: int = 0,
                  num_processes: int = 1, prefetch: int = 4) -> Iterator[dict]:
  """Yields this process's slice of global batch `start_step`, `start_step + 1`, ...:
  {'image': float32 [B/P, S, S, C] in [0, 1], 'label': int32 [B/P]}."""
  local = _check_divisible(batch_size, num_processes, 'config.data.batch_size')

  def load(indices: np.ndarray) -> dict:
    batch = split.get(indices)
    return {'image': prepare_images(batch['image'], image_size, resize, channels),
            'label': batch['label'].astype(np.int32)}

  ds = (grain.MapDataset.range(len(split)).shuffle(seed=seed).repeat()
        [process_index::num_processes].batch(local, drop_remainder=True))
  ds = ds[start_step:].map(load)
  options = grain.ReadOptions(num_threads=2, prefetch_buffer_size=prefetch)
  return iter(ds.to_iter_dataset(options))


def eval_batches(split: Split, batch_size: int, *, image_size: int, resize: str, channels: int,
                 process_index: int = 0, num_processes: int = 1) -> Iterator[dict]:
  """Yields this process's slice of each padded global eval batch:
  {'image': float32 [E/P, S, S, C], 'label': int32 [E/P], 'mask': float32 [E/P]}."""
  local = _check_divisible(batch_size, num_processes, 'config.data.eval_batch_size')
  n = len(split)
  steps = -(-n // batch_size)
  index = np.full(steps * batch_size, -1, np.int64)
  index[:n] = np.arange(n)
  index = index.reshape(steps, num_processes, local)[:, process_index]
  for idx in index:
    mask = idx >= 0
    batch = split.get(np.where(mask, idx, 0))
    yield {'image': prepare_images(batch['image'], image_size, resize, channels),
           'label': batch['label'].astype(np.int32), 'mask': mask.astype(np.float32)}
