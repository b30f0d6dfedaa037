"""The jitted train step for any loss over any pytree of parameters.

The train library knows nothing about models: a task supplies

    loss_fn(params, model_state, batch, key[, constants]) -> (loss, (new_model_state, metrics))

where `metrics` maps names to scalars (batch means). `params` may be any pytree: a network's
weights, or an image being optimised. Evaluation steps live in `train.evaluate`.

Steps are `jax.jit`-compiled (XLA's compiler options chosen by timing the whole step on its
first call: `train.compile_tuning`) with the state donated, the state replicated and the batch
split over the ('data',) mesh; XLA inserts the cross-device reductions, so batch norm
statistics are computed over the global batch (synchronised BN) without any pmap.

`constants` are inputs that are NOT split over the batch: a frozen network's variables,
style targets (Gram matrices), a fixed content image. They are passed explicitly to every
call, replicated on every device and never donated, instead of being closed over (a closed-
over array becomes a constant baked into the compiled program, outside the sharding and
copied into every executable). `batch` may be None (a run without a dataset).

Optimizers with a line search (`optax.lbfgs`, or any chain holding
`optax.scale_by_zoom_linesearch` / `scale_by_backtracking_linesearch`) are recognised from
their state and get what optax's documented loop passes them:

    tx.update(grads, opt_state, params, value=loss, grad=grads, value_fn=f)
    f(p) = loss_fn(p, model_state, batch, key, *constants)[0]

`f` closes over the step's traced arguments (batch, constants), so nothing is baked into the
compiled program; the line search evaluates the loss (and gradient) at trial points inside
the same jitted step. Parameters must stay valid at every trial point, so keep a range by a
reparametrisation (e.g. a sigmoid) rather than a projection after the update.
"""
from typing import Any, Callable

import jax
import optax

from cnn_jax.train.compile_tuning import tuned_jit
from cnn_jax.train.sharding import batch_sharded, replicated
from cnn_jax.train.state import TrainState

LossFn = Callable[..., tuple[jax.Array, tuple[Any, dict]]]
_LINE_SEARCH_STATES = (optax.ScaleByZoomLinesearchState, optax.ScaleByBacktrackingLinesearchState)


def has_line_search(opt_state) -> bool:
  """True when `opt_state` holds an optax line search's state (its `update` then needs
  `value`, `grad` and `value_fn`)."""
  is_ls = lambda x: isinstance(x, _LINE_SEARCH_STATES)
  return any(is_ls(x) for x in jax.tree.leaves(opt_state, is_leaf=is_ls))


def make_train_step(loss_fn: LossFn, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh,
                    schedule: optax.Schedule | None = None, *, constants: bool = False) -> Callable:
  """`step(state, batch) -> (state, metrics)`, or `step(state, batch, constants)` when
  `constants` is True (then `loss_fn` takes them as its fifth argument). Metrics add 'loss',
  'grad_norm', 'update_norm' and 'learning_rate' (the rate used for this update) to
  `loss_fn`'s. A line-search optimizer (see the module docstring) also gets `value`, `grad`
  and `value_fn`."""

  def step(state: TrainState, batch, *const) -> tuple[TrainState, dict]:
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
    key = state.step_key()
    (loss, (model_state, metrics)), grads = grad_fn(state.params, state.model_state, batch,
                                                    key, *const)
    if has_line_search(state.opt_state):  # static: the state's structure, known when tracing
      value_fn = lambda p: loss_fn(p, state.model_state, batch, key, *const)[0]
      updates, opt_state = tx.update(grads, state.opt_state, state.params, value=loss,
                                     grad=grads, value_fn=value_fn)
    else:
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
  shardings = (rep, batch_sharded(mesh)) + ((rep,) if constants else ())
  # jax.jit, with XLA's compiler options chosen by timing the whole step (compile_tuning).
  return tuned_jit(step, in_shardings=shardings, out_shardings=(rep, rep), donate_argnums=0)
