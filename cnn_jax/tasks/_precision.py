"""Mixed precision for the supervised runner: config.train.compute_dtype, 'float32' (default)
or 'bfloat16'.

The model computes in the compute dtype (its `dtype` attribute: convolutions, matmuls and
activations; its first conv casts the images); everything that accumulates stays float32:

  - parameters and optimizer state (flax's param_dtype=float32; `promote_dtype` casts a copy
    of each kernel per call), so gradients, taken w.r.t. them through the casts, are float32
    and the optimizer adds small updates to float32 weights without bfloat16's rounding;
  - batch-norm statistics: flax's BatchNorm with dtype=bfloat16 still computes the batch
    mean and variance in float32 (`force_float32_reductions=True`, its default, promotes the
    input before the reductions) and keeps the running averages float32; only its output is
    bfloat16;
  - the loss and metrics: `float32_outputs` casts the model's outputs before the objective
    (zoo classifiers already return float32 logits, `models.backbone.finish`).

The same recipe as flax's ImageNet example (`half_precision`) and big_vision. The runner
passes the dtype to registry models (`_supervised.build_model`); a task whose own
`build_model` does not is refused by `check_compute_dtype`, never silently run in float32.
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# config.train.compute_dtype -> the models' `dtype` (float16 is refused: `parse_compute_dtype`).
COMPUTE_DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}


def compute_dtype(config) -> Any:
  """config.train.compute_dtype as a jnp dtype: what the model computes in
  (`parse_compute_dtype`). Every family base config with a `train` section lists it."""
  return parse_compute_dtype(config.train.compute_dtype)


def parse_compute_dtype(name: str, key: str = 'config.train.compute_dtype') -> Any:
  """'float32' | 'bfloat16' -> the jnp dtype; anything else: ValueError naming `key` and the
  choices.

  No loss scaling: bfloat16 keeps float32's 8-bit exponent, so a gradient that is a normal
  float32 does not underflow in it (it loses mantissa bits, not range). float16 (5-bit
  exponent: values below ~6e-5 go subnormal, below ~6e-8 to zero) would need dynamic loss
  scaling, which the runner does not do, so it is refused.
  """
  if name not in COMPUTE_DTYPES:
    hint = (' (float16 would need loss scaling, which the runner does not do; bfloat16 does not)'
            if name == 'float16' else '')
    raise ValueError(f'{key}={name!r} is not supported{hint}; choose one of '
                     f'{list(COMPUTE_DTYPES)}.')
  return COMPUTE_DTYPES[name]


def with_compute_dtype(model: nn.Module, dtype: Any, name: str | None = None) -> nn.Module:
  """`model` computing in `dtype` (a copy with its `dtype` attribute set; its parameters stay
  float32: zoo models keep flax's param_dtype=float32). float32: `model` itself. A model
  without a `dtype` attribute cannot: ValueError naming it (`name`: its registry name)."""
  if jnp.dtype(dtype) == jnp.float32:
    return model
  if 'dtype' not in getattr(type(model), '__dataclass_fields__', {}):
    label = name or type(model).__name__
    raise ValueError(f'Model {label!r} has no dtype attribute, so it cannot compute in '
                     f'{jnp.dtype(dtype).name}; use config.train.compute_dtype=\'float32\' or a model '
                     'that takes dtype (lenet5, alexnet, vgg*, resnet*, googlenet, mobilenet_v1/v2, '
                     'conv1d, conv3d, unet, ...).')
  return model.clone(dtype=dtype)


def check_compute_dtype(task, model: nn.Module) -> None:
  """ValueError when config.train.compute_dtype is not float32 and the task's model does not
  compute in it (a task whose `build_model` does not pass it on): never ignored silently."""
  dtype = compute_dtype(task.config)
  have = getattr(model, 'dtype', None)
  if jnp.dtype(dtype) != jnp.float32 and (have is None or jnp.dtype(have) != jnp.dtype(dtype)):
    raise ValueError(
        f'config.train.compute_dtype={jnp.dtype(dtype).name!r}, but {type(task).__name__}.'
        f'build_model made a {type(model).__name__} that computes in '
        f'{"float32 (it has no dtype attribute)" if have is None else jnp.dtype(have).name}: '
        "this task supports only compute_dtype='float32'.")


def float32_outputs(outputs: Any) -> Any:
  """Model outputs with every bfloat16/float16 leaf cast to float32 (others as they are):
  the loss (its log-softmax), metrics and evaluation run in float32 whatever the compute
  dtype. Zoo classifiers already return float32 logits (`models.backbone.finish`); this holds
  it for every task's outputs (aux heads, per-pixel maps). A float32 model's outputs pass
  through untouched (no op is traced)."""
  def cast(x):
    half = (hasattr(x, 'dtype') and jnp.issubdtype(x.dtype, jnp.floating)
            and jnp.finfo(x.dtype).bits < 32)
    return x.astype(jnp.float32) if half else x
  return jax.tree.map(cast, outputs)


