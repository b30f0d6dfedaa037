"""ops.anchors: torchvision's AnchorGenerator, the documented centres and order."""
import pathlib

import numpy as np

from cnn_jax.ops import anchors as A

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_boxes.npz')


def test_multilevel_anchors_equal_torchvision():
  got = A.multilevel_anchors((96, 128), [(12, 16), (6, 8)], ((32, 64), (128,)),
                             ((0.5, 1.0, 2.0), (0.5, 1.0, 2.0, 3.0)))
  np.testing.assert_array_equal(got, FIXTURE['anchors'])


def test_base_anchor_shapes_follow_size_and_ratio():
  base = np.asarray(A.base_anchors((16, 32), (0.25, 1.0, 4.0), round_to_int=False))
  w, h = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
  # Ratio-major: (r=0.25, s=16), (r=0.25, s=32), (r=1, s=16), ...
  np.testing.assert_allclose(w, [32, 64, 16, 32, 8, 16], rtol=1e-6)  # w = s / sqrt(r)
  np.testing.assert_allclose(h, [8, 16, 16, 32, 32, 64], rtol=1e-6)  # h = s * sqrt(r)
  np.testing.assert_allclose(w * h, np.repeat([[256, 1024]], 3, 0).ravel(), rtol=1e-6)
  np.testing.assert_allclose(base[:, :2] + base[:, 2:], 0, atol=1e-6)  # centred on the origin


def test_grid_centres_top_left_or_cell_centre():
  base = A.base_anchors((8,), (1.0,))
  corner = np.asarray(A.grid_anchors(base, (2, 3), (10, 20)))
  centre = np.asarray(A.grid_anchors(base, (2, 3), (10, 20), offset=0.5))
  cx, cy = (corner[:, 0] + corner[:, 2]) / 2, (corner[:, 1] + corner[:, 3]) / 2
  # Row-major cells; stride (sy, sx) = (10, 20).
  np.testing.assert_array_equal(cx, [0, 20, 40, 0, 20, 40])
  np.testing.assert_array_equal(cy, [0, 0, 0, 10, 10, 10])
  np.testing.assert_array_equal(centre - corner, np.tile([10, 5, 10, 5], (6, 1)))
  assert A.feature_strides((96, 128), [(12, 16), (6, 8)]) == [(8, 8), (16, 16)]
