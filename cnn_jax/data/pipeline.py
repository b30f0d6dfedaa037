"""Input pipelines: deterministic, resumable, sharded per process, prefetched (grain).

Generic over tasks: a task's host-side `prepare(examples) -> batch` turns the raw examples of
a split (`split.get(indices)`, numpy with a leading example axis) into arrays of static
shape (images fitted to the model, labels, padded boxes + validity mask, masks, points,
pairs/triplets), so every batch of a run has the same shapes and the jitted step compiles once.

Train: batch k of the global stream is a pure function of (seed, k): the example indices are
shuffled with a fresh permutation every epoch (grain's index shuffle, seeded by seed + epoch;
the first epoch is grain's `MapDataset.shuffle(seed)` order), forever; process p of P
takes every P-th example of that stream, so a resumed run (start at step k) and a run
on more processes see the same global batches (up to the order within a batch). A task
that needs structured batches (P identities x K images for a triplet loss) passes
`sampler(k) -> global indices of batch k` instead; process p again takes every P-th one.

Host augmentation (`host_augment(examples, rngs)`, e.g. the Inception crop of images of any
size, `transforms.host_augment`) runs on the raw examples before `prepare`; example j of
global batch k gets its own numpy Generator seeded by (seed, k, j), so crops too are a pure
function of (seed, k), the same after a resume and on any number of processes.

Eval: the split is padded to whole batches; `mask` is 1 for real examples and 0 for
padding, so every test example counts exactly once on any number of processes.
"""
import functools
from typing import Callable, Iterator

import grain
import numpy as np

from cnn_jax.data.index_shuffle import block_bits, index_shuffle
from cnn_jax.data.sources import Split

Prepare = Callable[[dict], dict]


def _check_divisible(batch_size: int, num_processes: int, what: str) -> int:
  if batch_size % num_processes:
    raise ValueError(f'{what} {batch_size} must be divisible by the {num_processes} processes.')
  return batch_size // num_processes


@functools.lru_cache(maxsize=3)  # a batch may straddle two epochs; prefetch runs ahead
def _epoch_order(n: int, epoch_seed: int) -> np.ndarray:
  """index_shuffle of every position 0..n-1: one epoch's whole order."""
  order = index_shuffle(np.arange(n), n - 1, epoch_seed)
  order.setflags(write=False)
  return order


def _shuffled(within: np.ndarray, n: int, epoch_seed: int) -> np.ndarray:
  """Positions `within` one epoch of n examples -> example indices. Where the cipher's
  block holds more than 4n values every position walks long, and the epoch's order computed
  once (cached) costs less than a walk per batch; otherwise the batch's positions alone."""
  if 2 ** block_bits(max(n - 1, 1)) > 4 * n:
    return _epoch_order(n, epoch_seed)[within]
  return index_shuffle(within, n - 1, epoch_seed)


def train_batches(split: Split, batch_size: int, prepare: Prepare, *, seed: int,
                  start_step: int = 0, process_index: int = 0, num_processes: int = 1,
                  prefetch: int = 4,
                  sampler: Callable[[int], np.ndarray] | None = None,
                  host_augment: Callable[[dict, list], dict] | None = None) -> Iterator[dict]:
  """Yields this process's slice of global batch `start_step`, `start_step + 1`, ...:
  `prepare(host_augment(split.get(indices), rngs))` for its B/P indices of each global
  batch of B (without `host_augment`: `prepare(split.get(indices))`)."""
  local = _check_divisible(batch_size, num_processes, 'config.data.batch_size')
  if len(split) == 0:
    raise ValueError('The train split is empty: nothing to train on. Check config.data.dir '
                     '(the files it reads) and config.data.train_per_class.')

  def load(step_indices) -> dict:
    step, indices = step_indices
    examples = split.get(np.asarray(indices))
    if host_augment is not None:  # this process holds positions p, p + P, ... of the batch
      positions = range(process_index, batch_size, num_processes)
      examples = host_augment(examples, [np.random.default_rng((seed, step, j)) for j in positions])
    return prepare(examples)

  if sampler is None:
    n = len(split)
    if not 0 <= seed < 2**32:
      raise ValueError(f'config.seed={seed} must be in [0, 2**32) (the shuffle seed).')

    def indices_of(step: int) -> tuple[int, np.ndarray]:
      # Position i of the global stream is example index_shuffle(i mod N) of epoch i // N,
      # a permutation seeded by seed + epoch: grain's MapDataset.shuffle, computed for the
      # batch's positions at once (grain's per-element dataset chain cost ~13 ms per batch
      # of 256, the bare LeNet-5 step takes 19 ms; this takes 0.2-1 ms).
      positions = process_index + (step * local + np.arange(local)) * num_processes
      epochs, within = np.divmod(positions, n)
      out = np.empty(local, np.int64)
      for e in np.unique(epochs):
        at = epochs == e
        out[at] = _shuffled(within[at], n, int((seed + e) % 2**32))
      return step, out
    ds = grain.MapDataset.range(start_step, 2**62).map(indices_of)
  else:
    def indices_of(step: int) -> tuple[int, np.ndarray]:
      idx = np.asarray(sampler(step))
      if idx.shape != (batch_size,):
        raise ValueError(f'The sampler gave {idx.shape} indices for step {step}; expected '
                         f'({batch_size},) (config.data.batch_size).')
      return step, idx[process_index::num_processes]
    ds = grain.MapDataset.range(start_step, 2**62).map(indices_of)
  options = grain.ReadOptions(num_threads=2, prefetch_buffer_size=prefetch)
  return iter(ds.map(load).to_iter_dataset(options))


def eval_batches(split: Split, batch_size: int, prepare: Prepare, *, process_index: int = 0,
                 num_processes: int = 1) -> Iterator[dict]:
  """Yields this process's slice of each padded global eval batch: `prepare(examples)` plus
  'mask': float32 [E/P], 1 for real examples, 0 for padding (a repeat of example 0)."""
  local = _check_divisible(batch_size, num_processes, 'config.data.eval_batch_size')
  n = len(split)
  steps = -(-n // batch_size)
  index = np.full(steps * batch_size, -1, np.int64)
  index[:n] = np.arange(n)
  index = index.reshape(steps, num_processes, local)[:, process_index]
  for idx in index:
    mask = idx >= 0
    batch = prepare(split.get(np.where(mask, idx, 0)))
    if 'mask' in batch:
      raise ValueError("prepare() returned a 'mask' entry; the pipeline owns that name (the "
                       "padding mask of eval batches): call a segmentation mask e.g. 'segmentation'.")
    yield {**batch, 'mask': mask.astype(np.float32)}
