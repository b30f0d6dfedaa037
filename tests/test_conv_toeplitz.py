"""'toeplitz' (ops.conv_toeplitz): the banded matrix holds w where the course's index formula
puts it, the conv equals lax.conv in values and both gradients over strides, paddings and
dilations, other ranks and grouped convs go to lax.conv, and the autotuner offers it only
where `worthwhile` says so."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from cnn_jax.ops import conv_autotune as A
from cnn_jax.ops import conv_toeplitz as T
from cnn_jax.ops.conv_geometry import dimension_numbers


def test_matrix_entries_follow_the_index_formula():
  """T[a][(j s + b d) C_in + c, j C_out + q] = w[a, b, c, q], every other entry 0 (loops)."""
  kh, kw, c_in, c_out, padded_w, stride, dil = 2, 3, 2, 3, 9, 2, 1
  w = np.random.default_rng(0).standard_normal((kh, kw, c_in, c_out)).astype(np.float32)
  w_out = (padded_w - (dil * (kw - 1) + 1)) // stride + 1
  want = np.zeros((kh, padded_w * c_in, w_out * c_out), np.float32)
  for a in range(kh):
    for j in range(w_out):
      for b in range(kw):
        for c in range(c_in):
          for q in range(c_out):
            want[a, (j * stride + b * dil) * c_in + c, j * c_out + q] = w[a, b, c, q]
  got = T.toeplitz_matrix(jnp.asarray(w), padded_w, w_out, stride, dil)
  np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize('x_shape,w_shape,kw', [
    ((2, 12, 12, 1), (5, 5, 1, 6), {}),                                      # LeNet-5 conv1
    ((2, 9, 9, 6), (5, 5, 6, 4), {}),                                        # LeNet-5 conv2
    ((2, 8, 7, 3), (3, 2, 3, 5), dict(strides=(2, 3), padding=((1, 2), (0, 1)))),
    ((2, 9, 10, 2), (3, 3, 2, 4), dict(padding='SAME', dilation=(2, 1), strides=(1, 2))),
    ((1, 6, 7, 2), (2, 3, 2, 3), dict(padding=((-1, 1), (2, -1)))),          # crops too
])
def test_equals_lax_conv_in_values_and_gradients(x_shape, w_shape, kw):
  with jax.enable_x64(True):
    x = jax.random.normal(jax.random.key(0), x_shape, jnp.float64)
    w = jax.random.normal(jax.random.key(1), w_shape, jnp.float64)
    strides = kw.get('strides', (1, 1))
    dilation = kw.get('dilation', (1, 1))
    padding = kw.get('padding', 'VALID')
    ref = lambda x, w: lax.conv_general_dilated(  # noqa: E731
        x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=dimension_numbers(2))
    got = lambda x, w: T.conv_toeplitz(x, w, strides, padding, dilation)  # noqa: E731
    y, vjp = jax.vjp(got, x, w)
    y_ref, vjp_ref = jax.vjp(ref, x, w)
    dy = jnp.cos(y_ref)
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    for g, g_ref in zip(vjp(dy), vjp_ref(dy)):
      np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-11)


def test_other_ranks_and_grouped_convs_go_to_lax():
  x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
  w = jax.random.normal(jax.random.key(1), (3, 3, 2, 4))
  want = lax.conv_general_dilated(x, w, (1, 1), 'SAME', dimension_numbers=dimension_numbers(2),
                                  feature_group_count=2)
  np.testing.assert_array_equal(T.conv_toeplitz(x, w, padding='SAME', groups=2), want)
  x1, w1 = x[:, 0], w[0]
  np.testing.assert_array_equal(
      T.conv_toeplitz(x1, w1, groups=2),
      lax.conv_general_dilated(x1, w1, (1,), 'VALID', dimension_numbers=dimension_numbers(1),
                               feature_group_count=2))


def test_the_autotuner_offers_it_only_where_worthwhile():
  def offered(x_shape, w_shape, pad, groups=1):
    pads = ((pad, pad), (pad, pad))
    return 'toeplitz' in A.candidates('fwd', x_shape, w_shape, (1, 1), pads, (1, 1), groups)
  assert offered((256, 32, 32, 1), (5, 5, 1, 6), 0)          # LeNet-5 conv1: W_p/k_w = 6.4
  assert offered((256, 14, 14, 6), (5, 5, 6, 16), 0)         # LeNet-5 conv2: 2.8
  assert not offered((32, 32, 32, 3), (3, 3, 3, 64), 1)      # ResNet's CIFAR stem: 11.3
  assert not offered((32, 8, 8, 256), (3, 3, 256, 256), 1)   # T would be 15.7M entries
  assert not offered((32, 8, 8, 16), (3, 3, 1, 16), 1, groups=16)   # depthwise
  assert not offered((32, 4, 4, 160), (1, 1, 160, 960), 0)   # 1x1: already one matmul
  # A one-channel forward never offers 'taps' (module doc of conv_autotune.candidates).
  assert 'taps' not in A.candidates('fwd', (256, 32, 32, 1), (5, 5, 1, 6), (1, 1),
                                    ((0, 0), (0, 0)), (1, 1), 1)
  assert 'taps' in A.candidates('dw', (256, 32, 32, 1), (5, 5, 1, 6), (1, 1),
                                ((0, 0), (0, 0)), (1, 1), 1)
