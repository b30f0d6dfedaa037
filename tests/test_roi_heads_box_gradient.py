"""ops.roi_align_boxes: RoIAlign equal to ops.roi.roi_align (torchvision's values), with a
gradient with respect to the boxes that jax.test_util.check_grads confirms numerically."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from cnn_jax.ops import roi, roi_align_boxes

FEATURES = jnp.asarray(np.random.default_rng(0).normal(size=(2, 12, 10, 3)), jnp.float32)
# Inside, partly outside, wholly past the map, smaller than a cell (stretched to 1 x 1).
BOXES = jnp.array([[0.7, 1.3, 25.2, 30.1], [-5.1, -3.3, 8.2, 9.4], [30.3, 40.6, 70.2, 60.9],
                   [10.1, 10.2, 10.6, 10.45], [50.2, 60.3, 90.7, 110.1]])
INDEX = jnp.array([0, 1, 0, 1, 1])


def test_values_equal_the_torchvision_matching_roi_align():
  def both(f, b):
    return [(roi.roi_align(f, b, INDEX, 7, 0.25, 2, aligned),
             roi_align_boxes.roi_align(f, b, INDEX, 7, 0.25, 2, aligned))
            for aligned in (False, True)]
  for want, got in jax.jit(both)(FEATURES, BOXES):
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_box_and_feature_gradients_check_numerically():
  # The tiny box and the out-of-map one are flat in their boxes; float64 so that the central
  # differences (eps 1e-4) see the slope, not float32 rounding.
  with jax.enable_x64(True):
    feats, boxes = jnp.asarray(FEATURES, jnp.float64), jnp.asarray(BOXES[:3], jnp.float64)
    f = jax.jit(lambda x, b: roi_align_boxes.roi_align(x, b, INDEX[:3], 3, 0.25, 2))
    check_grads(f, (feats, boxes), order=1, modes=['rev'])
    grad = np.asarray(jax.grad(lambda b: jnp.sum(f(feats, b) ** 2))(boxes))
  assert np.abs(grad).min() > 0           # every coordinate moves the crop
  with pytest.raises(ValueError, match='sampling_ratio=0'):
    roi_align_boxes.roi_align(FEATURES, BOXES, INDEX, 3, 0.25, 0)
