"""Edge filters: the course's worked example, known responses, Sobel/Scharr agreement
with scikit-image, edge_map magnitude and direction."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.ops import filters as F


def test_course_example_vertical_edge():
  """6x6 image, bright (10) left half: the vertical filter gives 30s down the middle."""
  image = jnp.array([[10, 10, 10, 0, 0, 0]] * 6, jnp.float32)
  y = F.filter2d(image, F.VERTICAL, padding='VALID')
  np.testing.assert_array_equal(y, [[0, 30, 30, 0]] * 4)
  # The horizontal filter does not see a vertical edge at all.
  np.testing.assert_array_equal(F.filter2d(image, F.HORIZONTAL, padding='VALID'), 0)
  # Dark-to-light flips the sign.
  np.testing.assert_array_equal(F.filter2d(image[:, ::-1], F.VERTICAL, padding='VALID'),
                                [[0, -30, -30, 0]] * 4)


@pytest.mark.parametrize('impl', ['direct', 'xla', 'im2col', 'taps'])
def test_horizontal_edge_and_impls(impl):
  image = jnp.zeros((8, 7)).at[:4].set(1.0)       # bright top half
  h = F.filter2d(image, F.HORIZONTAL, padding='VALID', impl=impl)
  v = F.filter2d(image, F.VERTICAL, padding='VALID', impl=impl)
  assert float(h.max()) == 3.0 and float(jnp.abs(v).max()) == 0.0
  np.testing.assert_array_equal(h[:, 0], [0, 0, 3, 3, 0, 0])


def test_sobel_scharr_match_skimage():
  skimage = pytest.importorskip('skimage')
  from skimage import filters as skf
  image = skimage.data.camera()[100:164, 200:264].astype(np.float32) / 255
  for op, (fx, fy) in {'sobel': (skf.sobel_v, skf.sobel_h),
                       'scharr': (skf.scharr_v, skf.scharr_h)}.items():
    gx, gy = F.gradients(image, op)
    # skimage uses the same kernels up to normalisation; compare away from the border.
    np.testing.assert_allclose(gx[1:-1, 1:-1], fx(image)[1:-1, 1:-1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gy[1:-1, 1:-1], fy(image)[1:-1, 1:-1], rtol=1e-4, atol=1e-5)
    mag, _ = F.edge_map(image, op)
    ref = (skf.sobel if op == 'sobel' else skf.scharr)(image)
    # skimage's magnitude is sqrt((gx^2 + gy^2) / 2).
    np.testing.assert_allclose(mag[1:-1, 1:-1] / np.sqrt(2), ref[1:-1, 1:-1], rtol=1e-4, atol=1e-5)


def test_edge_map_direction_and_flat_image():
  ramp_right = jnp.tile(jnp.linspace(0, 1, 9), (9, 1))      # intensity rises along +x
  mag, ang = F.edge_map(ramp_right)
  assert float(mag[4, 4]) > 0 and abs(float(ang[4, 4])) < 1e-6
  mag, ang = F.edge_map(ramp_right.T)                        # rises along +y (downwards)
  np.testing.assert_allclose(ang[4, 4], np.pi / 2, atol=1e-6)
  # A unit step gives a unit response (normalised kernels); a flat image gives none, even
  # at the border (edge padding).
  step = jnp.zeros((6, 6)).at[:, 3:].set(1.0)
  for op in F.OPERATORS:
    np.testing.assert_allclose(F.edge_map(step, op)[0][2], [0, 0, 1, 1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(F.edge_map(jnp.full((5, 5), 0.7), op)[0], 0, atol=1e-6)
  rgb = jnp.stack([step] * 3, -1)
  np.testing.assert_allclose(F.edge_map(rgb)[0], F.edge_map(step)[0], atol=1e-6)
  with pytest.raises(ValueError, match='Unknown edge operator'):
    F.edge_map(step, 'canny')


def test_batched_channels_and_jit():
  x = jax.random.uniform(jax.random.key(0), (2, 10, 10, 3))
  y = jax.jit(lambda x: F.filter2d(x, F.SOBEL_X))(x)
  assert y.shape == x.shape
  np.testing.assert_allclose(y[1, ..., 2], F.filter2d(x[1, ..., 2], F.SOBEL_X), atol=1e-6)


def test_edges_task_smoke(tmp_path):
  """experiments/edges.py:smoke end to end: a PNG and statistics of a real photo."""
  from conftest import load_config
  from cnn_jax.tasks import edges
  stats = edges.run(load_config('edges'), str(tmp_path))
  png = (tmp_path / 'edges.png').read_bytes()
  assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 20_000
  assert stats['shape'] == [128, 128, 3] and 0.01 < stats['edge_fraction'] < 0.5
  assert stats['vertical_abs_mean'] > 0 and stats['horizontal_abs_mean'] > 0
