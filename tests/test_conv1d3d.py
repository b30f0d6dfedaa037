"""1-D and 3-D convnets (models/conv1d.py, conv3d.py), their stand-in data (data/nd_digits.py)
and task (tasks/classification_nd.py).

- `models.summarize` rows follow the course formulas: conv n_out = floor((n + 2p - f) / s) + 1,
  pooling floor(n / 2), conv parameters f^d * C_in * C_out (no bias before batch norm).
- The first conv of Conv1DNet equals a numpy cross-correlation of its own kernel.
- The stand-in data are the MNIST pixels re-laid: raster order; the pooled digit in every
  slice of a contiguous slab 2..6 thick.
- A wrong-rank input names the layout; the 3-D model trains two steps through the task.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from cnn_jax import models
from cnn_jax.data import nd_digits, sources
from cnn_jax.tasks import classification_nd


def test_summaries_follow_the_output_size_and_parameter_formulas():
  rows = {r.layer: r for r in models.summarize(models.create('conv1d', widths=(8, 16), kernel=5,
                                                             stem_stride=4), (100, 2))}
  # floor((100 + 4 - 5) / 4) + 1 = 25
  assert rows['conv1'].shape == (25, 8) and rows['conv1'].params == 5 * 2 * 8
  assert rows['pool1'].shape == (12, 8)                                          # floor(25 / 2)
  assert rows['conv2'].shape == (12, 16) and rows['conv2'].params == 5 * 8 * 16
  assert rows['fc'].params == 16 * 10 + 10
  conv3d = models.create('conv3d', widths=(4, 8))
  rows = {r.layer: r for r in models.summarize(conv3d, (8, 6, 10, 1))}
  assert rows['conv1'].shape == (8, 6, 10, 4) and rows['conv1'].params == 27 * 1 * 4
  assert rows['pool1'].shape == (4, 3, 5, 4)
  assert rows['pool2'].shape == (2, 1, 2, 8) and rows['conv2'].params == 27 * 4 * 8


def test_conv1d_first_layer_is_a_cross_correlation_and_wrong_rank_is_named():
  model = models.create('conv1d', widths=(3,), kernel=5, stem_stride=2, num_classes=4)
  x = np.random.default_rng(0).normal(size=(2, 20, 2)).astype(np.float32)
  variables = model.init(jax.random.key(0), x)
  _, state = model.apply(variables, x, capture_intermediates=True, mutable=['intermediates'])
  got = np.asarray(state['intermediates']['conv1']['__call__'][0])
  k = np.asarray(variables['params']['conv1']['kernel'])            # [5, 2, 3]
  padded = np.pad(x, ((0, 0), (2, 2), (0, 0)))                        # p = f // 2 = 2
  want = np.stack([np.einsum('nfc,fco->no', padded[:, i:i + 5], k) for i in range(0, 20, 2)], 1)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match=r'Conv1DNet takes \[N, L, C\].*rank 4'):
    model.apply(variables, jnp.zeros((1, 8, 8, 1)))
  with pytest.raises(ValueError, match=r'Conv3DNet takes \[N, D, H, W, C\].*rank 4'):
    models.create('conv3d').init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


def test_stand_in_data_are_the_mnist_pixels_re_laid():
  images = sources.load('mnist').test.get(np.arange(6))['image']
  seq = nd_digits.digit_sequences(images)
  assert seq.shape == (6, 784, 1) and seq[3, 5 * 28 + 17, 0] == images[3, 5, 17, 0]
  vols = nd_digits.digit_volumes(images, seed=0)
  assert vols.shape == (6, 16, 16, 16, 1) and vols.dtype == np.uint8
  padded = np.pad(images[..., 0].astype(np.float64), ((0, 0), (2, 2), (2, 2)))
  for v, p in zip(vols[..., 0], padded):
    pooled = np.round(np.array([[p[2 * i:2 * i + 2, 2 * j:2 * j + 2].mean() for j in range(16)]
                                for i in range(16)]))

    def is_slab(axis):  # a contiguous run of 2..6 slices across `axis`, each the pooled digit
      filled = np.flatnonzero(v.sum(tuple(b for b in range(3) if b != axis)))
      return (2 <= len(filled) <= 6 and np.all(np.diff(filled) == 1)
              and all(np.array_equal(np.take(v, z, axis=axis), pooled) for z in filled))

    assert any(is_slab(a) for a in range(3))


@pytest.mark.slow
def test_conv3d_trains_through_the_task_and_2d_options_are_refused(tmp_path):
  config = load_config('conv3d_mnist_volume')   # the conv1d task path is the same code
  config.train.update(steps=2, eval_every=2, checkpoint_every=2)
  config.data.eval_batch_size = 500
  result = classification_nd.run(config, str(tmp_path))
  assert result.eval['count'] == 1000 and 0.0 <= result.eval['accuracy'] <= 1.0
  assert np.isfinite(result.eval['loss']) and (tmp_path / 'confusion.png').exists()
  bad = load_config('conv1d_mnist_sequence')
  bad.eval.multicrop = 'flip'
  with pytest.raises(ValueError, match='multicrop crops 2-D images'):
    classification_nd.run(bad, str(tmp_path / 'bad'))
