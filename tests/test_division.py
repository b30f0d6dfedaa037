"""ops.division: float32 x / n rounded once, against numpy's IEEE float32 division."""
import jax
import numpy as np
import pytest

from cnn_jax.ops.division import divide


def _reference(x, n):
  """numpy's correctly rounded float32 quotient, with subnormal results flushed to 0."""
  q = np.float32(x) / np.asarray(n).astype(np.float32)
  return np.where(np.abs(q) < np.finfo(np.float32).tiny, np.float32(0) * q, q)


def test_static_divisors_bit_exact():
  rng = np.random.default_rng(0)
  # Every integer numerator up to 4096 (where (p + 1) L / out lands on integers), fractions,
  # negatives, huge and tiny values.
  x = np.concatenate([np.arange(4096), np.arange(4096) / 4 - 512, rng.normal(size=4096) * 1e3,
                      rng.normal(size=512) * 1e30, rng.normal(size=512) * 1e-30]).astype(np.float32)
  run = jax.jit(lambda v: [divide(v, n) for n in (1, 3, 7, 14, 24, 49, 1000, 32767)])
  for n, got in zip((1, 3, 7, 14, 24, 49, 1000, 32767), run(x)):
    np.testing.assert_array_equal(np.asarray(got).view(np.int32), _reference(x, n).view(np.int32),
                                  err_msg=f'n = {n}')


def test_array_divisors_bit_exact():
  rng = np.random.default_rng(1)
  x = (rng.normal(size=20000) * 100).astype(np.float32)
  n = rng.integers(1, 1 << 15, size=x.shape).astype(np.int32)
  n[:100] = 7
  got = jax.jit(jax.vmap(divide))(x, n)
  np.testing.assert_array_equal(np.asarray(got).view(np.int32), _reference(x, n).view(np.int32))


def test_the_case_that_motivates_it():
  # RoIPool's last 7 x 7 bin edge for a 21-cell RoI: 7 * fl(21 / 7) = 21 exactly.
  lengths = np.arange(1, 200, dtype=np.float32)
  bins = jax.jit(lambda v: 7 * divide(v, 7))(lengths)
  np.testing.assert_array_equal(np.ceil(bins), np.ceil(np.float32(7) * (lengths / np.float32(7))))


def test_bad_divisor():
  with pytest.raises(ValueError, match='divisor'):
    divide(np.ones(3, np.float32), 0)
  with pytest.raises(ValueError, match='int divisor'):
    divide(np.ones(3, np.float32), np.float32(3))
