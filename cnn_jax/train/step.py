"""Jitted train and eval steps for any loss over any pytree of parameters.

The train library knows nothing about models: a task supplies

    loss_fn(params, model_state, batch, key) -> (loss, (new_model_state, metrics))

where `metrics` maps names to scalars (batch means), and for evaluation

    metric_fn(params, model_state, batch) -> {name: per-example values [B, ...]}

Steps are `jax.jit`-compiled with the state donated, the state replicated and the batch
split over the ('data',) mesh; XLA inserts the cross-device reductions, so batch norm
statistics are computed over the global batch (synchronised BN) without any pmap.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from cnn_jax.train.sharding import batch_sharded, replicated
from cnn_jax.train.state import TrainState

LossFn = Callable[[Any, Any, Any, jax.Array], tuple[jax.Array, tuple[Any, dict]]]
MetricFn = Callable[[Any, Any, Any], dict]


def make_train_step(loss_fn: LossFn, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh,
                    schedule: optax.Schedule | None = None) -> Callable:
  """`step(state, batch) -> (state, metrics)`; metrics add 'loss', 'grad_norm',
  'update_norm' and 'learning_rate' (the rate used for this update) to `loss_fn`'s."""

  def step(state: TrainState, batch) -> tuple[TrainState, dict]:
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state, batch,
                                                    state.step_key())
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # update_norm catches an update that breaks the parameters (an infinite learning rate)
    # at the step it happens, before a checkpoint could save them.
    metrics = {**metrics, 'loss': loss, 'grad_norm': optax.tree.norm(grads),
               'update_norm': optax.tree.norm(updates)}
    if schedule is not None:
      metrics['learning_rate'] = schedule(state.step)
    new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                              opt_state=opt_state)
    return new_state, metrics

  rep = replicated(mesh)
  return jax.jit(step, in_shardings=(rep, batch_sharded(mesh)), out_shardings=(rep, rep),
                 donate_argnums=0)


def make_eval_step(metric_fn: MetricFn, mesh: jax.sharding.Mesh) -> Callable:
  """`eval_step(state, batch) -> sums`: each per-example metric summed over the examples
  where `batch['mask']` is 1 (padding excluded), plus 'count'. Summing, not averaging, lets
  the caller add batches and divide once, so every example counts exactly once."""

  def eval_step(state: TrainState, batch) -> dict:
    values = metric_fn(state.params, state.model_state, batch)
    mask = batch['mask'].astype(jnp.float32)
    sums = {k: jnp.tensordot(mask, v.astype(jnp.float32), axes=1) for k, v in values.items()}
    sums['count'] = mask.sum()
    return sums

  rep = replicated(mesh)
  return jax.jit(eval_step, in_shardings=(rep, batch_sharded(mesh)), out_shardings=rep)
