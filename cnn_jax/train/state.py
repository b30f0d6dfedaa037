"""The training state: one pytree holding everything a resumed run needs."""
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
  """step: int32 scalar; params: trainable pytree; model_state: the model's mutable
  collections (e.g. {'batch_stats': ...}, {} if none); opt_state: optax state;
  rng: uint32 raw key data (checkpointable), folded with `step` for each step's key.
  """
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
  rng: jax.Array

  @classmethod
  def create(cls, params, model_state, tx: optax.GradientTransformation, key: jax.Array) -> 'TrainState':
    """A fresh state at step 0 from initial `params`, `model_state`, optimizer `tx` and a key."""
    return cls(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state or {},
               opt_state=tx.init(params), rng=jax.random.key_data(key))

  def step_key(self) -> jax.Array:
    """The key for this step's randomness (dropout, augmentation): fold_in(rng, step)."""
    return jax.random.fold_in(jax.random.wrap_key_data(self.rng), self.step)
