"""The conv autotuner (`impl='auto'`, ops.conv_autotune + ops.plan_cache): every formulation it
can pick equals lax.conv in values and gradients on small versions of the benchmark
workloads' convs; it picks the fastest by its timer (a fake one here: no timing in tests),
stores plans in a versioned per-machine JSON file, rebuilds a corrupt or old file with a
warning, and gives the chosen fixed formulations' results under jit, vmap and 4-device
sharding, bit-identical across runs."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cnn_jax.ops import conv as C
from cnn_jax.ops import conv_autotune as A
from cnn_jax.ops import plan_cache
from cnn_jax.ops.conv_fast import conv_planned
from cnn_jax.ops.padding import as_tuple, explicit_padding

# Small versions of the convs of LeNet-5, ResNet-18 (small input) and MobileNetV2: (x, w, kw).
WORKLOAD_CONVS = {
    'lenet conv1 5x5 1->6': ((2, 12, 12, 1), (5, 5, 1, 6), {}),
    'lenet conv2 5x5 6->16': ((2, 9, 9, 6), (5, 5, 6, 16), {}),
    'resnet stem 3->8': ((2, 8, 8, 3), (3, 3, 3, 8), dict(padding=1)),
    'resnet 3x3 s1': ((2, 6, 6, 8), (3, 3, 8, 8), dict(padding=1)),
    'resnet 3x3 s2': ((2, 8, 8, 8), (3, 3, 8, 16), dict(padding=1, strides=2)),
    'resnet 1x1 s2': ((2, 8, 8, 8), (1, 1, 8, 16), dict(strides=2)),
    'mobilenet dw s1': ((2, 6, 6, 12), (3, 3, 1, 12), dict(padding=1, groups=12)),
    'mobilenet dw s2': ((2, 8, 8, 12), (3, 3, 1, 12), dict(padding=1, strides=2, groups=12)),
    'mobilenet 1x1': ((2, 6, 6, 8), (1, 1, 8, 12), {}),
}


def _args(x_shape, w_shape, kw):
  rank = len(w_shape) - 2
  strides = as_tuple(kw.get('strides', 1), rank)
  pads = explicit_padding(kw.get('padding', 'VALID'), x_shape[1:-1], w_shape[:-2], strides,
                          (1,) * rank)
  return strides, tuple(map(tuple, pads)), (1,) * rank, kw.get('groups', 1)


@pytest.fixture
def tuner(tmp_path, monkeypatch):
  """A measuring autotuner with its cache in tmp_path, timed by a fake timer that makes
  `tuner.fastest[pass]` win (and counts its calls), for tiny shapes too."""
  monkeypatch.setenv('CNN_JAX_CONV_AUTOTUNE', 'measure')
  monkeypatch.setenv('CNN_JAX_CACHE', str(tmp_path))
  monkeypatch.setattr(A, 'MIN_FLOPS', 0)

  class Tuner:
    fastest = dict(fwd='taps', dx='im2col', dw='taps')
    calls = []

  def fake_timer(pass_, fns, args):
    Tuner.calls.append(sorted(fns))
    return {n: {'ms': 1.0 if n == Tuner.fastest[pass_] else 5.0} for n in fns}

  monkeypatch.setattr(A, 'timer', fake_timer)
  A.reset()
  yield Tuner
  A.reset()


# The default suite checks a 3x3 (all six candidates; depthwise: tests/test_conv.py);
# `pytest -m slow` checks them all (~40 s of compiles).
@pytest.mark.parametrize('names', [
    ('resnet 3x3 s1',),
    pytest.param(tuple(WORKLOAD_CONVS), marks=pytest.mark.slow)], ids=['some', 'all'])
def test_every_candidate_equals_lax_conv_in_values_and_gradients(names):
  cases = {name: (jax.random.normal(jax.random.key(0), WORKLOAD_CONVS[name][0]),
                  jax.random.normal(jax.random.key(1), WORKLOAD_CONVS[name][1])) for name in names}

  def run(cases):
    out = {}
    for name, (x, w) in cases.items():
      kw = WORKLOAD_CONVS[name][2]
      strides, pads, dilation, groups = _args(x.shape, w.shape, kw)
      for impl in A.candidates('fwd', x.shape, w.shape, strides, pads, dilation, groups):
        y, vjp = jax.vjp(lambda x, w: C.conv(x, w, impl=impl, **kw), x, w)
        out[name, impl] = (y, *vjp(jnp.cos(y)))
    return out

  out = jax.jit(run, compiler_options={'xla_backend_optimization_level': 0})(cases)
  for (name, impl), got in out.items():
    for part, g, want in zip(('y', 'dx', 'dw'), got, out[name, 'xla']):
      np.testing.assert_allclose(g, want, rtol=1e-4, atol=2e-4, err_msg=f'{name} {impl} {part}')
  assert {impl for _, impl in out} == {'xla', 'im2col', 'taps', 'toeplitz', 'winograd',
                                       'winograd4'}


def _auto_and_fixed(x, w, kw, fixed):
  """(auto conv, the conv with `fixed` {pass: impl} as its plan) as functions of (x, w)."""
  strides, pads, dilation, groups = _args(x.shape, w.shape, kw)
  chooser = lambda pass_, *_: fixed[pass_]  # noqa: E731
  auto = lambda x, w: C.conv(x, w, impl='auto', **kw)  # noqa: E731
  return auto, lambda x, w: conv_planned(x, w, strides, pads, dilation, groups, chooser)


def test_winograd4_only_for_float32_and_wider():
  """F(4x4, 3x3) costs ~4 bits of accuracy: neither the autotuner nor the 'fast' rules offer
  it below float32's mantissa (bfloat16, float16), where F(2x2, 3x3) stays."""
  from cnn_jax.ops.conv_fast import fixed_plan
  geometry = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)    # strides, pads, dilation, groups
  x_shape, w_shape = (32, 32, 32, 64), (3, 3, 64, 64)
  for dtype, want in ((jnp.float32, 'winograd4'), (jnp.bfloat16, 'winograd'),
                      (jnp.float16, 'winograd')):
    names = A.candidates('fwd', x_shape, w_shape, *geometry, dtype=dtype)
    assert ('winograd4' in names) == (want == 'winograd4') and 'winograd' in names, dtype
    assert fixed_plan('fwd', x_shape, w_shape, dtype, *geometry) == want, dtype


def test_auto_picks_the_fastest_saves_it_and_later_runs_read_it(tuner, tmp_path):
  x, w = jnp.ones((2, 6, 6, 8)), jnp.ones((3, 3, 8, 8))
  jax.grad(lambda x, w: C.conv(x, w, impl='auto', padding=1).sum(), (0, 1))(x, w)
  # 3x3 stride 1 on a narrow input: both Winograds and toeplitz are candidates; each pass
  # timed once.
  assert tuner.calls == [['im2col', 'taps', 'toeplitz', 'winograd', 'winograd4', 'xla']] * 3
  plans = A.used_plans()
  assert {k.split()[0]: e['impl'] for k, e in plans.items()} == tuner.fastest
  data = json.loads((tmp_path / plan_cache.FILE).read_text())
  assert data['version'] == plan_cache.VERSION
  section = data['machines'][plan_cache.machine_id()]
  assert section['machine']['jax'] == jax.__version__ and section['plans'].keys() == plans.keys()
  A.write_used_plans(tmp_path / 'conv_plan.json')
  assert json.loads((tmp_path / 'conv_plan.json').read_text())['plans'].keys() == plans.keys()

  A.reset()  # a new process: reads the file, times nothing
  jax.grad(lambda x, w: C.conv(x, w, impl='auto', padding=1).sum(), (0, 1))(x, w)
  assert len(tuner.calls) == 3 and A.used_plans() == plans


def test_fwd_and_dx_of_one_winograd_program_share_the_tile(tuner, monkeypatch):
  ms = dict(fwd={'winograd': 1.0, 'winograd4': 1.2}, dx={'winograd': 2.0, 'winograd4': 1.5})
  monkeypatch.setattr(A, 'timer', lambda pass_, fns, args: {
      n: {'ms': ms.get(pass_, {}).get(n, 9.0)} for n in fns})

  def run(w_shape):
    x, w = jnp.ones((2, 6, 6, 8)), jnp.ones(w_shape)
    jax.grad(lambda x, w: C.conv(x, w, impl='auto', padding=1).sum(), (0, 1))(x, w)
    return {k.split()[0]: e['impl'] for k, e in A.used_plans().items()
            if f'w{list(w_shape)}' in k and not k.startswith('dw')}

  # The forward picks by its timings; the dx (timed faster with F(4x4)) follows it, in the
  # first run and in a later one that reads the plans back.
  assert run((3, 3, 8, 8)) == dict(fwd='winograd', dx='winograd')
  A.reset()
  assert run((3, 3, 8, 8)) == dict(fwd='winograd', dx='winograd')
  # C_out != C_in: the dx is another program, each pass keeps its own pick.
  assert run((3, 3, 8, 16)) == dict(fwd='winograd', dx='winograd4')


@pytest.mark.parametrize('content', ['{not json', json.dumps({'version': 0, 'machines': {}}),
                                     json.dumps({'version': plan_cache.VERSION, 'machines': 3})])
def test_a_corrupt_or_old_cache_is_rebuilt_with_a_warning(tuner, tmp_path, content):
  (tmp_path / plan_cache.FILE).write_text(content)
  x, w = jnp.ones((2, 6, 6, 8)), jnp.ones((1, 1, 8, 4))
  with pytest.warns(UserWarning, match='unusable'):
    jax.jit(lambda x, w: C.conv(x, w, impl='auto'))(x, w)
  assert len(tuner.calls) == 1
  data = json.loads((tmp_path / plan_cache.FILE).read_text())
  assert data['version'] == plan_cache.VERSION and len(data['machines']) == 1


def test_pick_keeps_lax_conv_unless_another_is_clearly_faster():
  assert A.pick({'xla': 10.4, 'taps': 10.0, 'im2col': 12.0}) == 'xla'      # within 5%
  assert A.pick({'xla': 11.0, 'taps': 10.0, 'im2col': 12.0}) == 'taps'
  assert A.pick({'taps': 3.0, 'im2col': 2.0}) == 'im2col'


def test_pick_gives_depthwise_ties_to_taps():
  assert A.pick({'xla': 107.6, 'taps': 110.8, 'im2col': 193.8}, groups=144) == 'taps'
  assert A.pick({'xla': 107.6, 'taps': 110.8, 'im2col': 193.8}, groups=1) == 'xla'
  assert A.pick({'xla': 50.0, 'taps': 110.8}, groups=144) == 'xla'   # a clear win still wins


def test_stored_times_are_picked_again_by_the_current_rule(tuner, tmp_path):
  """A plan file from an older tie rule: its times decide, not its stored choice."""
  x_shape, w_shape = (2, 6, 6, 12), (3, 3, 1, 12)
  args = ((1, 1), ((1, 1), (1, 1)), (1, 1), 12)
  key = A.key_of('dw', x_shape, w_shape, jnp.float32, *args)
  times = {'xla': {'ms': 10.0}, 'taps': {'ms': 10.2}, 'im2col': {'ms': 30.0}}
  plan_cache.save({key: dict(impl='xla', source='measured', times=times)})
  A.reset()
  tuner.calls.clear()
  assert A.choose('dw', x_shape, w_shape, jnp.float32, *args) == 'taps'
  assert tuner.calls == []  # nothing timed again


def test_plans_timed_without_a_current_candidate_are_measured_again(tuner):
  """A stored plan lacking one of today's candidates ('toeplitz' for LeNet-5's second conv)
  is timed again; one whose fastest is no longer offered ('toeplitz' on a 1x1) is picked
  again from the times of the candidates that are."""
  args = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
  thin, pointwise = ((2, 9, 9, 6), (5, 5, 6, 4)), ((2, 4, 4, 8), (1, 1, 8, 8))
  plan_cache.save({
      A.key_of('fwd', *thin, jnp.float32, *args): dict(
          impl='xla', source='measured', times={n: {'ms': 1.0} for n in ('xla', 'im2col', 'taps')}),
      A.key_of('fwd', *pointwise, jnp.float32, *args): dict(
          impl='toeplitz', source='measured',
          times={'toeplitz': {'ms': 1.0}, 'taps': {'ms': 2.0}, 'im2col': {'ms': 5.0},
                 'xla': {'ms': 5.0}})})
  A.reset()
  tuner.calls.clear()
  assert A.choose('fwd', *pointwise, jnp.float32, *args) == 'taps' and tuner.calls == []
  assert A.choose('fwd', *thin, jnp.float32, *args) == 'taps'     # the fake timer's fastest
  assert tuner.calls == [['im2col', 'taps', 'toeplitz', 'xla']]


def test_fixed_modes_and_tiny_passes_are_not_timed(tuner, monkeypatch):
  x, w = jnp.ones((2, 6, 6, 8)), jnp.ones((3, 3, 8, 4))
  monkeypatch.setenv('CNN_JAX_CONV_AUTOTUNE', 'im2col')
  jax.jit(lambda x, w: C.conv(x, w, impl='auto'))(x, w)
  assert [e['impl'] for e in A.used_plans().values()] == ['im2col'] and not tuner.calls
  monkeypatch.setenv('CNN_JAX_CONV_AUTOTUNE', 'measure')
  monkeypatch.setattr(A, 'MIN_FLOPS', 1e12)  # everything tiny: the 'fast' rules choose
  A.reset()
  jax.jit(lambda x, w: C.conv(x, w, impl='auto'))(x, w)
  assert [e['source'] for e in A.used_plans().values()] == ['fast rules'] and not tuner.calls
  monkeypatch.setenv('CNN_JAX_CONV_AUTOTUNE', 'fastest')
  with pytest.raises(ValueError, match='CNN_JAX_CONV_AUTOTUNE'):
    jax.jit(lambda x, w: C.conv(x, w, impl='auto', padding=1))(x, w)


def test_auto_under_jit_vmap_and_sharding_equals_the_chosen_fixed_impls(tuner):
  tuner.fastest = dict(fwd='im2col', dx='taps', dw='im2col')
  kw = dict(padding=1)
  x = jax.random.normal(jax.random.key(0), (4, 6, 6, 8))
  w = jax.random.normal(jax.random.key(1), (3, 3, 8, 8))
  auto, fixed = _auto_and_fixed(x, w, kw, tuner.fastest)

  def value_and_grads(conv):
    return jax.jit(jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w))), (0, 1)))

  want = value_and_grads(fixed)(x, w)
  got = value_and_grads(auto)(x, w)
  jax.tree.map(np.testing.assert_array_equal, got, want)   # same plan, same program
  jax.clear_caches()
  again = value_and_grads(auto)(x, w)                      # recompiled: bit-identical
  jax.tree.map(np.testing.assert_array_equal, again, got)

  # vmap over a leading axis (the plan is looked up for the per-example shapes).
  xs = x.reshape(2, 2, 6, 6, 8)
  vm = lambda conv: jax.jit(jax.vmap(lambda x: jax.grad(  # noqa: E731
      lambda x, w: jnp.sum(jnp.sin(conv(x, w))), (0, 1))(x, w)))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
               vm(auto)(xs), vm(fixed)(xs))

  # The batch split over 4 host devices (tests/conftest.py): the global shapes pick the plan.
  mesh = Mesh(np.array(jax.devices()[:4]), ('data',))
  xs = jax.device_put(x, NamedSharding(mesh, P('data')))
  sharded = value_and_grads(auto)(xs, jax.device_put(w, NamedSharding(mesh, P())))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4),
               sharded, want)
  assert {k.split()[0]: e['impl'] for k, e in A.used_plans().items()} == tuner.fastest


def test_host_timer_protocol_on_tiny_candidates(monkeypatch):
  """The real timer's bookkeeping (not its timings): every candidate compiled and warmed up,
  the survivors timed at least ROUNDS times, a median for each survivor."""
  monkeypatch.setattr(A, 'ROUNDS', 2)
  monkeypatch.setattr(A, 'MIN_SAMPLE_MS', 0.0)
  x = jnp.ones((4, 4))
  out = A._host_timer('fwd', {'a': lambda x: x + 1, 'b': lambda x: x * 2}, (x,))
  assert set(out) == {'a', 'b'}
  assert all(o['compile_s'] >= 0 and o['warmup_ms'] >= 0 and o['calls'] >= 1 for o in out.values())
  survivors = [n for n, o in out.items() if o['ms'] is not None]
  assert survivors and all(out[n]['calls'] >= 2 for n in survivors)


def test_shape_only_and_eager_calls_time_nothing(tuner):
  x, w = jnp.ones((2, 6, 6, 8)), jnp.ones((3, 3, 8, 4))
  with A.untimed():
    jax.eval_shape(lambda x, w: C.conv(x, w, impl='auto'), x, w)
  C.conv(x, w, impl='auto')  # eager: the 'fast' rules
  assert not tuner.calls and not A.used_plans()
