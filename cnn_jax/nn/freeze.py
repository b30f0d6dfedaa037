"""Frozen batch norm: chosen BatchNorm layers run on their running averages, even in training.

Freezing a backbone in transfer learning means more than zero updates to its weights: its
batch-norm layers must normalise with the stored ImageNet statistics (not the batch's) and
must not update them. Models build BatchNorm with `use_running_average=not train`, so this
is done from outside, without touching the model: a Linen method interceptor evaluates the
chosen layers in inference form,

    y = (x - running_mean) / sqrt(running_var + eps) * scale + bias,

and leaves their `batch_stats` untouched.
"""
import contextlib
from typing import Callable

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from cnn_jax.nn.batch_norm import BatchNorm


@contextlib.contextmanager
def running_average_batchnorm(is_frozen: Callable[[str], bool]):
  """Within the context, every `nn.BatchNorm` whose '/'-joined module path satisfies
  `is_frozen` normalises with its running statistics and does not update them."""

  def interceptor(next_fun, args, kwargs, context):
    module = context.module
    if (context.method_name != '__call__' or not isinstance(module, nn.BatchNorm)
        or not is_frozen('/'.join(module.path)) or not module.has_variable('batch_stats', 'mean')):
      return next_fun(*args, **kwargs)  # other layers, and init (no statistics yet)
    if module.axis not in (-1, args[0].ndim - 1):
      raise ValueError(f'Frozen batch norm supports feature axis -1 only, got {module.axis}.')
    x = args[0]
    mean = module.get_variable('batch_stats', 'mean')
    var = module.get_variable('batch_stats', 'var')
    y = (x - mean) * lax.rsqrt(var + module.epsilon)
    if module.use_scale:
      y = y * module.get_variable('params', 'scale')
    if module.use_bias:
      y = y + module.get_variable('params', 'bias')
    y = y.astype(module.dtype or jnp.result_type(x))
    return module.finish(y, kwargs.get('residual')) if isinstance(module, BatchNorm) else y

  with nn.intercept_methods(interceptor):
    yield
