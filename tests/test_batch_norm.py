"""nn.batch_norm: the fused BN(+residual)+activation equals flax.linen.BatchNorm followed by
the activation, in values, running statistics and gradients (float64, so the comparison is
tight), and keeps Flax's behaviour on every path it does not fuse."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from cnn_jax.nn import freeze
from cnn_jax.nn.batch_norm import BatchNorm, batch_norm_train, norm_act

ACTS = {None: None, 'relu': jax.nn.relu, 'relu6': jax.nn.relu6}


def _inputs(dtype, shape=(3, 5, 4, 6), seed=0):
  rng = np.random.default_rng(seed)
  # scaled so relu6 sees values on both sides of 0 and 6, none within 1e-3 of a kink
  x = rng.standard_normal(shape) * 3 + 1
  r = rng.standard_normal(shape) * 2
  dy = rng.standard_normal(shape)
  return tuple(jnp.asarray(a, dtype) for a in (x, r, dy))


class _Reference(nn.Module):
  """flax.linen.BatchNorm, then + residual, then the activation: what BatchNorm fuses."""
  act: str | None

  @nn.compact
  def __call__(self, x, residual=None):
    y = nn.BatchNorm(use_running_average=False, momentum=0.9, name='bn')(x)
    y = y if residual is None else y + residual
    return y if self.act is None else ACTS[self.act](y)


class _Fused(nn.Module):
  act: str | None

  @nn.compact
  def __call__(self, x, residual=None):
    return BatchNorm(use_running_average=False, momentum=0.9, activation=self.act,
                     name='bn')(x, residual=residual)


@pytest.mark.parametrize('act,with_residual', [(None, False), ('relu', False), ('relu6', False),
                                               ('relu', True), ('relu6', True)])
def test_values_statistics_and_gradients_equal_flax(act, with_residual):
  with enable_x64():
    x, r, dy = _inputs(jnp.float64)
    r = r if with_residual else None
    variables = _Reference(act).init(jax.random.key(0), x, r)
    rng = np.random.default_rng(1)  # non-trivial affine parameters
    variables = {'params': {'bn': {'scale': jnp.asarray(rng.uniform(0.5, 2, 6)),
                                   'bias': jnp.asarray(rng.standard_normal(6))}},
                 'batch_stats': variables['batch_stats']}
    fused_vars = _Fused(act).init(jax.random.key(0), x, r)
    assert jax.tree.structure(fused_vars) == jax.tree.structure(variables)

    def run(module, params, x, r):
      y, state = module.apply({'params': params, 'batch_stats': variables['batch_stats']}, x, r,
                              mutable=['batch_stats'])
      return y, state['batch_stats']

    outs = {}
    for name, module in (('ref', _Reference(act)), ('fused', _Fused(act))):
      (y, stats), vjp = jax.vjp(lambda p, x, r: run(module, p, x, r), variables['params'], x, r)
      zero_stats = jax.tree.map(jnp.zeros_like, stats)
      outs[name] = (y, stats, vjp((dy, zero_stats)))
    (y0, s0, g0), (y1, s1, g1) = outs['ref'], outs['fused']
    np.testing.assert_allclose(y1, y0, rtol=1e-10, atol=1e-10)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s0)):
      np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g0)):
      np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_statistics_outputs_carry_their_own_gradients():
  """mean and var are outputs too: their cotangents reach x exactly as autodiff's would."""
  with enable_x64():
    x, _, dy = _inputs(jnp.float64, (7, 5))
    scale, bias = jnp.linspace(0.5, 1.5, 5), jnp.linspace(-1, 1, 5)

    def formula(x, scale, bias):
      mean = x.mean(0)
      var = (x * x).mean(0) - mean * mean
      return (x - mean) / jnp.sqrt(var + 1e-5) * scale + bias, mean, var

    cts = (dy, jnp.linspace(-2, 2, 5), jnp.linspace(3, -1, 5))
    want = jax.vjp(formula, x, scale, bias)[1](cts)
    got = jax.vjp(lambda x, s, b: batch_norm_train(x, s, b, None, 1e-5, None), x, scale, bias)[1](cts)
    for a, b in zip(got, want):
      np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_eval_mode_and_frozen_statistics_keep_the_activation():
  x, r, _ = _inputs(jnp.float32)
  module = BatchNorm(use_running_average=True, activation='relu6')
  variables = module.init(jax.random.key(0), x)
  variables = {'params': variables['params'],
               'batch_stats': {'mean': jnp.full((6,), 0.5), 'var': jnp.full((6,), 4.0)}}
  want = jnp.clip((x - 0.5) / jnp.sqrt(4.0 + 1e-5) + r, 0, 6)
  np.testing.assert_allclose(module.apply(variables, x, residual=r), want, rtol=1e-6, atol=1e-6)
  # nn.freeze's interceptor normalises with the running statistics and must keep act + residual
  train_module = BatchNorm(use_running_average=False, activation='relu6')
  with freeze.running_average_batchnorm(lambda path: True):
    y, state = train_module.apply(variables, x, residual=r, mutable=['batch_stats'])
  np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)
  assert jax.tree.all(jax.tree.map(jnp.array_equal, state['batch_stats'], variables['batch_stats']))


def test_norm_act_falls_back_for_other_norms_and_activations():
  x, r, _ = _inputs(jnp.float32)

  class Block(nn.Module):
    norm: object
    act: object

    @nn.compact
    def __call__(self, x, r):
      return norm_act(self.norm, x, self.act, residual=r, name='bn')

  flax_bn = functools.partial(nn.BatchNorm, use_running_average=False)
  ours = functools.partial(BatchNorm, use_running_average=False)
  leaky = functools.partial(nn.leaky_relu, negative_slope=0.1)
  ref = Block(flax_bn, leaky)
  v = ref.init(jax.random.key(0), x, r)
  want = ref.apply(v, x, r, mutable=['batch_stats'])[0]
  got = Block(ours, leaky).apply(v, x, r, mutable=['batch_stats'])[0]  # not fusable: applied after
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match='not fusable'):
    BatchNorm(use_running_average=False, activation='gelu').init(jax.random.key(0), x)


def test_bfloat16_compute_keeps_flax_dtypes():
  x, _, _ = _inputs(jnp.bfloat16)
  for module in (BatchNorm(use_running_average=False, dtype=jnp.bfloat16, activation='relu'),
                 BatchNorm(use_running_average=False)):
    variables = module.init(jax.random.key(0), x)
    y, state = module.apply(variables, x, mutable=['batch_stats'])
    flax_y, flax_state = nn.BatchNorm(use_running_average=False, dtype=module.dtype).apply(
        variables, x, mutable=['batch_stats'])
    assert y.dtype == flax_y.dtype
    assert jax.tree.map(lambda a: a.dtype, state) == jax.tree.map(lambda a: a.dtype, flax_state)
    np.testing.assert_allclose(np.asarray(y, np.float32),
                               np.asarray(jax.nn.relu(flax_y) if module.activation else flax_y,
                                          np.float32), rtol=2e-2, atol=2e-2)
