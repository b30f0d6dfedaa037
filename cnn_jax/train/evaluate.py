"""Evaluators: `evaluate(state) -> {name: value}` callables for `train.loop.fit`.

The loop only calls `evaluate(state)` and logs the scalar entries (non-scalar entries, e.g.
a confusion matrix, are kept in `FitResult.eval` for pictures). Two kinds are built here:

- masked sums (`masked_means`): a task's per-example metrics, summed on device over every
  real example of the padded eval stream (`batch['mask']` 1 = real, 0 = padding) and divided
  once by the count, so each test example counts exactly once on any number of devices or
  processes. Fits accuracy, loss, confusion counts, mIoU's confusion sums, pair accuracy.
- host accumulators (`accumulate`): a jitted `predict` per batch, its outputs brought to the
  host and handed to an object with `update(outputs, batch)` and `result() -> dict`, e.g. an
  adapter around `metrics.coco.CocoEvaluator` for mAP, which does not decompose into sums.

`constants` (optional) are replicated inputs that are not split over the batch (a frozen
network's variables, targets): passed explicitly, never closed over.
"""
from typing import Any, Callable, Iterable, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.train.sharding import batch_sharded, replicated
from cnn_jax.train.state import TrainState

MetricFn = Callable[..., dict]
Evaluator = Callable[[TrainState], dict]


def make_eval_step(metric_fn: MetricFn, mesh: jax.sharding.Mesh, *,
                   constants: bool = False) -> Callable:
  """`eval_step(state, batch[, constants]) -> sums`: each per-example value of
  `metric_fn(params, model_state, batch[, constants]) -> {name: [B, ...]}` summed over the
  examples where `batch['mask']` is 1 (padding excluded), plus 'count' (the number of real
  examples). Summing, not averaging, lets the caller add batches and divide once."""

  def eval_step(state: TrainState, batch, *const) -> dict:
    values = metric_fn(state.params, state.model_state, batch, *const)
    mask = batch['mask'].astype(jnp.float32)
    sums = {k: jnp.tensordot(mask, v.astype(jnp.float32), axes=1) for k, v in values.items()}
    sums['count'] = mask.sum()
    return sums

  rep = replicated(mesh)
  shardings = (rep, batch_sharded(mesh)) + ((rep,) if constants else ())
  return jax.jit(eval_step, in_shardings=shardings, out_shardings=rep)


def sum_batches(state: TrainState, eval_step: Callable, batches: Iterable, *const) -> dict:
  """Adds `eval_step(state, batch)` over all batches; numpy sums including 'count'."""
  total = None
  for batch in batches:
    sums = eval_step(state, batch, *const)
    total = sums if total is None else jax.tree.map(lambda a, b: a + b, total, sums)
  if total is None:
    raise ValueError('The evaluation stream is empty: the eval split has no examples.')
  return jax.tree.map(np.asarray, jax.device_get(total))


def means(sums: dict) -> dict:
  """Scalar means of evaluation sums: sum / count for every scalar entry but 'count'."""
  count = float(sums['count'])
  return {k: float(v) / count for k, v in sums.items() if np.ndim(v) == 0 and k != 'count'}


def masked_means(metric_fn: MetricFn, mesh: jax.sharding.Mesh,
                 batches: Callable[[], Iterable], constants: Any = None) -> Evaluator:
  """An evaluator over the padded stream `batches()`: scalar per-example metrics become
  their means over the real examples; non-scalar ones (e.g. a confusion matrix per example)
  stay sums; 'count' is the number of real examples."""
  step = make_eval_step(metric_fn, mesh, constants=constants is not None)
  const = () if constants is None else (constants,)

  def evaluate(state: TrainState) -> dict:
    sums = sum_batches(state, step, batches(), *const)
    return {**{k: v for k, v in sums.items() if np.ndim(v) > 0}, **means(sums),
            'count': sums['count']}

  return evaluate


class Accumulator(Protocol):
  """Host-side evaluation state: fed batch by batch, read once."""

  def update(self, outputs: dict, batch: dict) -> None: ...

  def result(self) -> dict: ...


def make_predict_step(predict_fn: Callable, mesh: jax.sharding.Mesh, *, constants: bool = False,
                      batch_keys: Sequence[str] | None = None) -> Callable:
  """`predict(state, batch[, constants]) -> (outputs, targets)`, jitted with the batch split
  over the mesh and both results replicated, so every process reads the whole global batch.
  `targets` are the batch entries named by `batch_keys` (None: all of them) - what the host
  needs next to the outputs (labels, boxes, the padding mask), not the images."""

  def predict(state: TrainState, batch, *const):
    keys = batch if batch_keys is None else batch_keys
    return (predict_fn(state.params, state.model_state, batch, *const),
            {k: batch[k] for k in keys})

  rep = replicated(mesh)
  shardings = (rep, batch_sharded(mesh)) + ((rep,) if constants else ())
  return jax.jit(predict, in_shardings=shardings, out_shardings=rep)


def accumulate(predict_fn: Callable, mesh: jax.sharding.Mesh, batches: Callable[[], Iterable],
               make_accumulator: Callable[[], Accumulator], constants: Any = None,
               batch_keys: Sequence[str] | None = None) -> Evaluator:
  """An evaluator that runs `predict_fn(params, model_state, batch[, constants])` on each
  batch of `batches()` and feeds the numpy outputs and targets (see `make_predict_step`) to
  a fresh accumulator; returns its `result()`. Padding rows (batch['mask'] == 0) are the
  accumulator's to skip: list 'mask' in `batch_keys` to receive it."""
  step = make_predict_step(predict_fn, mesh, constants=constants is not None,
                           batch_keys=batch_keys)
  const = () if constants is None else (constants,)

  def evaluate(state: TrainState) -> dict:
    acc = make_accumulator()
    for batch in batches():
      outputs, targets = jax.tree.map(np.asarray, jax.device_get(step(state, batch, *const)))
      acc.update(outputs, targets)
    return acc.result()

  return evaluate
