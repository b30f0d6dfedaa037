"""Sliding windows: the convolutional version equals crop-and-classify on every window (VALID),
the SAME-padding gap shown numerically, and the FC -> conv kernel layouts (NHWC and NCHW
flatten orders) against a numpy dense layer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnn_jax.models import sliding_window as sw
from zoo_testing import FAST_COMPILE


def _model_and_params(padding='VALID', channels=1, seed=0, random_bias=True):
  model = sw.WindowClassifier(padding=padding, features=(8, 16), hidden=32)
  params = model.init(jax.random.key(seed), jnp.zeros((1, 28, 28, channels)))['params']
  if random_bias:  # Flax initialises biases at 0, which would hide what SAME padding does
    keys = iter(jax.random.split(jax.random.key(seed + 1), 8))
    params = {name: {**layer, 'bias': 0.1 * jax.random.normal(next(keys), layer['bias'].shape)}
              for name, layer in params.items()}
  return model, params


def _both(model, params, image):
  conv = sw.fc_to_conv(params, model)
  naive = jax.jit(lambda p, x: sw.naive_scores(model, p, x, batch=64),
                  compiler_options=FAST_COMPILE)(params, image)
  fully = jax.jit(lambda p, x: sw.conv_scores(model, p, x), compiler_options=FAST_COMPILE)(
      conv, image)
  return np.asarray(naive), np.asarray(fully)


@settings(max_examples=3, deadline=None)
@given(height=st.integers(28, 57), width=st.integers(28, 57), channels=st.sampled_from([1, 3]),
       seed=st.integers(0, 2 ** 16))
@pytest.mark.slow
def test_convolutional_equals_naive_on_every_window_valid(height, width, channels, seed):
  model, params = _model_and_params(channels=channels, seed=seed)
  image = jax.random.uniform(jax.random.key(seed), (height, width, channels))
  naive, fully = _both(model, params, image)
  assert naive.shape == fully.shape == sw.grid_size(height, width, 28, 4) + (11,)
  np.testing.assert_allclose(fully, naive, atol=1e-5, rtol=0)


def test_same_padding_differs_and_why():
  """SAME: a crop's border convolutions see zeros, the whole-image ones see the neighbours.
  On a random 44 x 52 image every window differs (gap printed by -s). On a black image with
  content only inside window (1, 2), at least 3 px from its edges (so no conv1 output outside
  the window sees it), that window still differs when the conv biases are non-zero (the
  relu(bias) > 0 activations around it replace the crop's zero padding) and is exact when
  they are zero; its overlapping neighbours differ either way."""
  model, params = _model_and_params('SAME')
  image = jax.random.uniform(jax.random.key(3), (44, 52, 1))
  naive, fully = _both(model, params, image)
  gap = np.abs(naive - fully).max(-1)
  print('SAME |naive - conv| per window (random image):\n', np.round(gap, 3))
  assert gap.min() > 1e-3 and np.abs(naive).max() > 0.1
  framed = np.zeros((44, 52, 1), np.float32)
  framed[8:28, 12:32] = np.asarray(image)[8:28, 12:32]  # window (1, 2) = [4, 32) x [8, 36)
  naive, fully = _both(model, params, framed)
  assert np.abs(naive - fully)[1, 2].max() > 1e-3
  model, params = _model_and_params('SAME', random_bias=False)
  naive, fully = _both(model, params, framed)
  gap = np.abs(naive - fully).max(-1)
  assert gap[1, 2] <= 1e-5 and gap.max() > 1e-3  # its neighbours overlap the content: differ


def test_dense_to_conv_flatten_orders_against_numpy():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(2, 4, 4, 5)).astype(np.float32)     # NHWC map
  kernel_hwc = rng.normal(size=(80, 7)).astype(np.float32)
  kernel_chw = rng.normal(size=(80, 7)).astype(np.float32)
  dense_hwc = features.reshape(2, -1) @ kernel_hwc                 # Flax / TF flatten
  dense_chw = features.transpose(0, 3, 1, 2).reshape(2, -1) @ kernel_chw  # PyTorch flatten
  conv = lambda k: jax.lax.conv_general_dilated(features, k, (1, 1), 'VALID',
                                                dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  np.testing.assert_allclose(conv(sw.dense_to_conv(kernel_hwc, (4, 4, 5)))[:, 0, 0], dense_hwc,
                             rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(conv(sw.dense_to_conv(kernel_chw, (4, 4, 5), 'chw'))[:, 0, 0],
                             dense_chw, rtol=1e-5, atol=1e-4)
  wrong = conv(sw.dense_to_conv(kernel_chw, (4, 4, 5), 'hwc'))[:, 0, 0]
  assert np.abs(wrong - dense_chw).max() > 1.0  # the silent permutation bug, made visible


def test_grid_boxes_and_bad_input():
  assert sw.grid_size(64, 40, 28, 4) == (10, 4)
  boxes = sw.window_boxes(64, 40, 28, 4)
  np.testing.assert_array_equal(boxes[2, 3], [12, 8, 40, 36])
  model, params = _model_and_params()
  with pytest.raises(ValueError, match='convolutional=True'):
    model.apply({'params': params}, jnp.zeros((1, 32, 32, 1)))
  with pytest.raises(ValueError, match='smaller than one 28x28 window'):
    sw.conv_scores(model, sw.fc_to_conv(params, model), jnp.zeros((20, 64, 1)))
  with pytest.raises(ValueError, match=r'\[N, H, W, C\]'):
    model.apply({'params': params}, jnp.zeros((28, 28, 1)))
  with pytest.raises(ValueError, match='does not follow a flatten'):
    sw.dense_to_conv(jnp.zeros((81, 3)), (4, 4, 5))


def test_windows_are_centred_digits_or_background():
  """data.windows: each window is the canvas crop at its origin; a digit window's box centre
  lies within the 2-px jitter of the window centre (28x28 crop on a 64x64 canvas; clipping
  at the canvas edge may move it further, then the digit is still >= 90% inside); a
  background window holds <= 35% of every digit box."""
  from cnn_jax.data import canvases, windows
  batch = canvases.generate(windows.CANVAS, 'test', 12, seed=5)
  images, labels, origins = windows.cut_windows(batch, np.random.default_rng(0), negatives=2)
  assert images.shape[1:] == (28, 28, 1) and set(labels) <= set(range(11))
  assert (labels < 10).sum() == batch['count'].sum() and (labels == 10).sum() > 12
  for image, label, (b, x, y) in zip(images, labels, origins):
    np.testing.assert_array_equal(image, batch['image'][b, y:y + 28, x:x + 28])
    boxes = batch['boxes'][b][batch['valid'][b]]
    inside = windows.cover(np.array([x, y, x + 28, y + 28]), boxes) if len(boxes) else [0]
    if label == 10:
      assert np.max(inside) <= 0.35
    else:
      centres = (boxes[:, :2] + boxes[:, 2:]) / 2
      offset = np.abs(centres - np.array([x + 14, y + 14])).max(1)
      ok = (batch['labels'][b][batch['valid'][b]] == label) & (
          (offset <= 2.5) | (np.asarray(inside) >= 0.9))
      assert ok.any()


@pytest.mark.slow
def test_sliding_window_task_smoke(tmp_path):
  import json
  from conftest import load_config
  from cnn_jax.tasks import sliding_window
  config = load_config('sliding_window')
  result = sliding_window.run(config, str(tmp_path))
  assert int(result.state.step) == config.train.steps
  report = json.loads((tmp_path / 'sliding_window.json').read_text())
  canvas = report['canvases'][0]
  assert canvas['grid'] == list(sw.grid_size(40, 48, 28, 4)) and canvas['max_abs_gap'] < 1e-5
  assert (tmp_path / 'heatmap.png').stat().st_size > 10_000


@pytest.mark.slow
def test_bench_sliding_window_smoke():
  from conftest import load_config
  from cnn_jax.tasks import benchmark
  report = benchmark.run(load_config('bench_sliding_window'))
  rows = {(r.name, r.impl): r for r in report.results}
  assert rows['canvas 56x56: 8x8 windows', 'naive'].info['items'] == 64
  assert rows['canvas 56x56: 8x8 windows', 'conv'].speedup is not None
