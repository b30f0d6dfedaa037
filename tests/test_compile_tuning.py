"""The train step's compiler options chosen by timing (train/compile_tuning.py): the faster
variant is kept, stored per machine and program, and read back untimed; noise keeps XLA's
default; 'off' and fixed modes time nothing; a bad mode names the choices; the state the step
donates is untouched by the timing calls, so the first step's result equals plain jax.jit's."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.train import compile_tuning as T


def _step(state, batch):
  new = jax.tree.map(lambda p: p - 0.1 * jnp.tanh(p * batch.mean()), state)
  return new, jnp.sum(new['w'] ** 2)


def _args():
  rng = np.random.default_rng(0)
  return ({'w': jnp.asarray(rng.standard_normal((16, 8)), jnp.float32)},
          jnp.asarray(rng.standard_normal((4, 16)), jnp.float32))


@pytest.fixture
def measuring(tmp_path, monkeypatch):
  monkeypatch.setenv(T.ENV, 'measure')
  monkeypatch.setenv('CNN_JAX_CACHE', str(tmp_path))
  calls = []

  def fake_time(compiled, args):
    calls.append(sorted(compiled))
    return {n: (0.5 if n == 'legacy_fusion_emitter' else 1.0) for n in compiled}

  monkeypatch.setattr(T, '_time', fake_time)
  return calls


def test_the_faster_variant_is_kept_saved_and_read_back(measuring, tmp_path):
  want = jax.jit(_step)(*_args())
  step = T.tuned_jit(_step, donate_argnums=0)
  got = step(*_args())
  assert step.choice['name'] == 'legacy_fusion_emitter' and step.choice['source'] == 'measured'
  assert measuring == [sorted(T.CANDIDATES)]
  np.testing.assert_allclose(got[0]['w'], want[0]['w'], rtol=1e-6)
  saved = json.loads((tmp_path / T.FILE).read_text())
  (section,) = saved['machines'].values()
  assert [e['name'] for e in section['steps'].values()] == ['legacy_fusion_emitter']

  again = T.tuned_jit(_step, donate_argnums=0)
  again(*_args())
  assert again.choice['source'] == 'measured (cached)' and len(measuring) == 1  # not timed


def test_the_first_result_equals_jax_jit_bit_for_bit_when_default_wins(measuring, monkeypatch):
  monkeypatch.setattr(T, '_time', lambda compiled, args: {n: 1.0 for n in compiled})
  state, batch = _args()
  want = jax.jit(_step)(*_args())
  step = T.tuned_jit(_step, donate_argnums=0)
  got = step(state, batch)  # the timing calls ran on copies; this call donates `state`
  assert step.choice['name'] == 'default'
  np.testing.assert_array_equal(got[0]['w'], want[0]['w'])
  np.testing.assert_array_equal(step(*_args())[1], want[1])  # and later calls too


def test_noise_keeps_xla_default():
  assert T.pick({'default': 1.0, 'legacy_fusion_emitter': 0.98}) == 'default'
  assert T.pick({'default': 1.0, 'legacy_fusion_emitter': 0.8}) == 'legacy_fusion_emitter'


def test_a_slower_compile_must_be_repaid_within_payback_steps():
  seconds = {'default': 0.70, 'legacy_fusion_emitter': 0.67, 'memory_scheduler': 0.69}
  # 30 ms a step repays 2 s of extra compile in 67 steps (<= 100), but not 4 s (133 steps).
  fast = {'default': 6.0, 'legacy_fusion_emitter': 8.0, 'memory_scheduler': 6.0}
  slow = {'default': 6.0, 'legacy_fusion_emitter': 10.0, 'memory_scheduler': 6.0}
  assert T.PAYBACK_STEPS == 100
  assert T.pick(seconds, fast) == 'legacy_fusion_emitter'
  assert T.pick(seconds, slow) == 'default'  # memory_scheduler: within the noise margin
  seconds['memory_scheduler'] = 0.675     # now > 3% faster, and compiles no slower
  assert T.pick(seconds, slow) == 'memory_scheduler'


@pytest.mark.parametrize('mode, name', [('off', 'default'),
                                        ('legacy_fusion_emitter', 'legacy_fusion_emitter')])
def test_off_and_fixed_modes_time_nothing(measuring, monkeypatch, tmp_path, mode, name):
  monkeypatch.setenv(T.ENV, mode)
  step = T.tuned_jit(_step)
  out = step(*_args())
  assert step.choice['name'] == name and measuring == []
  assert not (tmp_path / T.FILE).exists()
  np.testing.assert_allclose(out[1], jax.jit(_step)(*_args())[1], rtol=1e-6)


def test_a_bad_mode_names_the_choices(monkeypatch):
  monkeypatch.setenv(T.ENV, 'fastest')
  with pytest.raises(ValueError, match=r"CNN_JAX_STEP_TUNING='fastest'.*measure, off or one of"):
    T.tuned_jit(_step)(*_args())


def test_the_real_timer_times_every_candidate():
  state, batch = _args()
  compiled = {n: T.tuned_jit(_step)._jit(n).lower(state, batch).compile() for n in T.CANDIDATES}
  seconds = T._time(compiled, (state, batch))
  assert set(seconds) == set(T.CANDIDATES) and all(s > 0 for s in seconds.values())


def test_inside_another_jit_it_is_plain_jit(measuring):
  step = T.tuned_jit(_step)
  out = jax.jit(step)(*_args())
  assert step.choice is None and measuring == []  # nothing chosen or timed while tracing
  np.testing.assert_allclose(out[1], jax.jit(_step)(*_args())[1], rtol=1e-6)


def test_the_memory_scheduler_only_reorders_the_same_computation():
  # Independent branches the two schedulers may order differently; the numbers must not move.
  def branches(x):
    a = jax.lax.conv_general_dilated(x, jnp.ones((3, 3, 4, 8)) / 9, (1, 1), 'SAME',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    b = jnp.tanh(x).sum((1, 2)) @ jnp.ones((4, 8))
    return jax.nn.relu(a).mean((1, 2)) * b, jax.grad(lambda y: jnp.sum(jnp.sin(y) ** 2))(x)
  x = jnp.asarray(np.random.default_rng(3).standard_normal((2, 9, 9, 4)), jnp.float32)
  outs = [jax.jit(branches, compiler_options=T.CANDIDATES[n] or None)(x)
          for n in ('default', 'memory_scheduler')]
  for got, want in zip(*outs):
    np.testing.assert_array_equal(got, want)
