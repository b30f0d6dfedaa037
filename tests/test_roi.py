"""ops.roi: torchvision's roi_align / roi_pool values and feature gradients, jit, vmap."""
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnn_jax.ops import roi as R

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_boxes.npz')
FEATURES = FIXTURE['roi_features']
BOXES = FIXTURE['roi_boxes']
BATCH_INDEX = FIXTURE['roi_batch_index']
COTANGENT = FIXTURE['roi_cotangent']


def _value_and_vjp(fn):
  @jax.jit
  def run(features, boxes, batch_index, cotangent):
    out, vjp = jax.vjp(lambda f: fn(f, boxes, batch_index), features)
    return out, vjp(cotangent)[0]
  return run(FEATURES, BOXES, BATCH_INDEX, COTANGENT)


@pytest.mark.parametrize('aligned', [False, True])
@pytest.mark.parametrize('sampling_ratio', [-1, 2])
def test_roi_align_equals_torchvision(aligned, sampling_ratio):
  # Boxes inside, partly outside, tiny (< 1 cell), huge, inverted; at two scales.
  for scale in (1.0, 0.5):
    key = f'roi_align_{int(aligned)}_{sampling_ratio}_{scale}'
    fn = functools.partial(R.roi_align, output_size=(3, 4), spatial_scale=scale,
                           sampling_ratio=sampling_ratio, aligned=aligned)
    out, grad = _value_and_vjp(fn)
    np.testing.assert_allclose(out, FIXTURE[key], atol=3e-6, err_msg=key)
    np.testing.assert_allclose(grad, FIXTURE[key + '_grad'], atol=3e-6, err_msg=key)


def test_roi_align_sampling_ratio_3():
  key = 'roi_align_0_3_0.5'
  fn = functools.partial(R.roi_align, output_size=(3, 4), spatial_scale=0.5, sampling_ratio=3)
  out, grad = _value_and_vjp(fn)
  np.testing.assert_allclose(out, FIXTURE[key], atol=3e-6)
  np.testing.assert_allclose(grad, FIXTURE[key + '_grad'], atol=3e-6)


@pytest.mark.parametrize('scale', [1.0, 0.5])
def test_roi_pool_equals_torchvision(scale):
  fn = functools.partial(R.roi_pool, output_size=(3, 4), spatial_scale=scale)
  out, grad = _value_and_vjp(fn)
  np.testing.assert_array_equal(out, FIXTURE[f'roi_pool_{scale}'])
  np.testing.assert_array_equal(grad, FIXTURE[f'roi_pool_{scale}_grad'])


def test_gradients_are_numerically_right():
  # Boxes inside the map, away from cell borders where the max / clamps are not smooth.
  feats = jnp.asarray(FEATURES[:, :8, :8, :2])
  boxes = jnp.array([[0.7, 1.3, 5.2, 6.1], [2.2, 0.4, 7.1, 3.3]])
  index = jnp.array([1, 0])
  check_grads(jax.jit(lambda f: R.roi_align(f, boxes, index, 2, 1.0, -1, True)), (feats,), order=1,
              modes=['rev'], atol=1e-2, rtol=1e-2)
  check_grads(jax.jit(lambda f: R.roi_pool(f, boxes, index, 2, 1.0)), (feats,), order=1,
              modes=['rev'], atol=1e-2, rtol=1e-2)


def test_constant_map_and_vmap_over_box_sets():
  ones = jnp.ones((1, 10, 10, 3))
  boxes = jnp.array([[[1., 1., 6., 6.], [0., 2., 9., 8.]], [[3., 3., 4., 5.], [2., 2., 8., 8.]]])
  index = jnp.zeros((2, 2), jnp.int32)
  run = jax.jit(jax.vmap(lambda b, i: R.roi_align(ones, b, i, (2, 2), 1.0, -1, True)))
  # Bilinear sampling of a constant map inside it is that constant.
  np.testing.assert_allclose(run(boxes, index), 1.0, rtol=1e-6)
  ramp = jnp.arange(100.0).reshape(1, 10, 10, 1)
  single = jax.jit(lambda b: R.roi_pool(ramp, b, jnp.zeros(2, jnp.int32), 1, 1.0))
  # The max of a ramp over the cells [x1, x2] x [y1, y2] is at the bottom-right cell.
  np.testing.assert_array_equal(single(boxes[1])[:, 0, 0, 0], [5 * 10 + 4, 8 * 10 + 8])
