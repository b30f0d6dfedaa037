"""ops.roi: torchvision's roi_align / roi_pool values and feature gradients, jit, vmap."""
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.ops import roi as R

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_boxes.npz')
FEATURES = FIXTURE['roi_features']
BOXES = FIXTURE['roi_boxes']
BATCH_INDEX = FIXTURE['roi_batch_index']
COTANGENT = FIXTURE['roi_cotangent']


@functools.lru_cache(maxsize=None)
def _jitted(op, **static):
  """One compile per static configuration; the spatial scale is traced (both scales share it)."""
  @jax.jit
  def run(features, boxes, batch_index, cotangent, scale):
    out, vjp = jax.vjp(lambda f: op(f, boxes, batch_index, spatial_scale=scale, **static), features)
    return out, vjp(cotangent)[0]
  return run


def _value_and_grad(op, scale, **static):
  return _jitted(op, **static)(FEATURES, BOXES, BATCH_INDEX, COTANGENT, np.float32(scale))


@pytest.mark.parametrize('aligned', [False, True])
@pytest.mark.parametrize('sampling_ratio', [-1, 2, 3])
def test_roi_align_equals_torchvision(aligned, sampling_ratio):
  # Boxes inside, partly outside, tiny (< 1 cell), huge, inverted; at two scales.
  for scale in (1.0, 0.5):
    key = f'roi_align_{int(aligned)}_{sampling_ratio}_{scale}'
    out, grad = _value_and_grad(R.roi_align, scale, output_size=(3, 4),
                                sampling_ratio=sampling_ratio, aligned=aligned)
    np.testing.assert_allclose(out, FIXTURE[key], atol=3e-6, err_msg=key)
    np.testing.assert_allclose(grad, FIXTURE[key + '_grad'], atol=3e-6, err_msg=key)


def test_roi_pool_equals_torchvision():
  for scale in (1.0, 0.5):
    out, grad = _value_and_grad(R.roi_pool, scale, output_size=(3, 4))
    np.testing.assert_array_equal(out, FIXTURE[f'roi_pool_{scale}'])
    np.testing.assert_array_equal(grad, FIXTURE[f'roi_pool_{scale}_grad'])


@jax.jit
def _directional_derivatives(feats, boxes, index, u, v):
  """<u, J v> by central differences and <J^T u, v> by the custom backward pass, per op."""
  out = {}
  for name, op in (('align', lambda f: R.roi_align(f, boxes, index, 2, 1.0, -1, True)),
                   ('pool', lambda f: R.roi_pool(f, boxes, index, 2, 1.0))):
    y, vjp = jax.vjp(op, feats)
    eps = 1e-3
    numeric = jnp.sum(u * (op(feats + eps * v) - op(feats - eps * v))) / (2 * eps)
    out[name] = (numeric, jnp.sum(vjp(u)[0] * v))
  return out


def test_gradients_are_numerically_right():
  # Random features have no ties, so the max of RoIPool is locally linear too.
  rng = np.random.default_rng(1)
  feats = FEATURES[:, :8, :8, :2]
  boxes = np.array([[0.7, 1.3, 5.2, 6.1], [2.2, 0.4, 7.1, 3.3]], np.float32)
  u = rng.normal(size=(2, 2, 2, 2)).astype(np.float32)
  v = rng.normal(size=feats.shape).astype(np.float32)
  for name, (numeric, backward) in _directional_derivatives(feats, boxes, np.array([1, 0]), u, v).items():
    np.testing.assert_allclose(numeric, backward, rtol=2e-3, err_msg=name)


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


EDGES = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_roi_edges.npz')


@functools.lru_cache(maxsize=None)
def _pool_sum_grad(size):
  """RoIPool and the gradient of its sum (which cell won each bin); scale traced."""
  def run(features, boxes, batch_index, scale):
    out, vjp = jax.vjp(lambda f: R.roi_pool(f, boxes, batch_index, size, scale), features)
    return out, vjp(jnp.ones_like(out))[0]
  return jax.jit(run)


@pytest.mark.parametrize('size', [7, 14])
def test_roi_pool_bin_edges_equal_torchvision(size):
  # Every RoI length 1..64 in each axis, at 7 x 7 and 14 x 14: where (p + 1) L / out is an
  # integer, x * fl(1 / out) (jit's rewrite of x / out) put the last edge one cell late, e.g.
  # L = 21 at 7 x 7; torchvision's own float edge for L = 57 at 7 x 7 is 58 (module doc).
  for scale in (1.0, 0.5):
    out, grad = _pool_sum_grad(size)(EDGES['features'], EDGES['pool_boxes'],
                                     EDGES['pool_batch_index'], np.float32(scale))
    key = f'pool_{size}_{scale}'
    np.testing.assert_array_equal(out, EDGES[key], err_msg=key)
    np.testing.assert_array_equal(grad, EDGES[key + '_grad'], err_msg=key)


@functools.lru_cache(maxsize=None)
def _align7(aligned):
  return jax.jit(lambda f, b, i, s: R.roi_align(f, b, i, 7, s, -1, aligned))


@pytest.mark.parametrize('aligned', [False, True])
def test_roi_align_adaptive_grid_equals_torchvision(aligned):
  # The adaptive grid ceil(roi / 7) of RoIs whose size is a multiple of 7 (e.g. 21 -> 3, not 4).
  for scale in (1.0, 0.5):
    out = _align7(aligned)(EDGES['features'], EDGES['align_boxes'], EDGES['align_batch_index'],
                           np.float32(scale))
    key = f'align_7_{int(aligned)}_{scale}'
    np.testing.assert_allclose(out, EDGES[key], atol=3e-6, err_msg=key)
