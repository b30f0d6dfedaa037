"""Float32 division by a small integer, rounded once as IEEE division rounds it.

Why not `x / n`: under `jit`, XLA rewrites division by a constant (or by a broadcast scalar)
into multiplication by its reciprocal, x * fl(1 / n), which rounds twice and can land one ulp
away from fl(x / n) (and how a GPU backend divides is its own choice). That is harmless for
a value, but not when the quotient is then floored or ceiled to an index, e.g.
RoIPool's bin edges ceil((p + 1) fl(L / out)): for L = 21 at 7 x 7, fl(21 fl(1 / 7)) =
3.0000002 and the last edge ceil(7 * 3.0000002) = 22 takes one row too many, while
torchvision (IEEE division in C++) has fl(21 / 7) = 3 and the edge 21.

How: with x = M 2^e (M the 24-bit integer significand), fl(x / n) = fl(M / n) 2^e exactly,
and fl(M / n) = round_half_even(M 2^t / n) 2^-t, where t = 23 - floor(log2(M / n)) makes
the integer part 24 bits. M 2^t / n is long division in int32 (t doubling steps of the
remainder, which stays below 2n), so every step is exact on every backend, and every copy of
the computation that XLA's fusion makes gives the same bits (a float quotient can come out
of two fusions rounded two ways, so that an index and its weight disagree).
"""
import jax
import jax.numpy as jnp

_MAX_DIVISOR = 1 << 15  # keeps 2 * remainder and n * 2^(24 - bits(n)) inside int32


def divide(x: jax.Array, n: int | jax.Array) -> jax.Array:
  """fl(x / n) for float32 `x` (finite) and an integer 1 <= n < 2^15.

  `n` is a static int, or an int array broadcastable against `x` (values outside [1, 2^15)
  give garbage: clamp first). Equal, bit for bit, to IEEE-754 float32 division rounded to
  nearest even (numpy's `np.float32(x) / np.float32(n)`, C's `float / float`), whatever the
  backend does with `/`, except that subnormal inputs and results are 0 (XLA flushes them).
  """
  x = jnp.asarray(x, jnp.float32)
  if isinstance(n, int) and not isinstance(n, bool):
    if not 1 <= n < _MAX_DIVISOR:
      raise ValueError(f'divide needs an int divisor in [1, {_MAX_DIVISOR}), got {n}.')
    if n & (n - 1) == 0:  # a power of two: x * 2^-k is exact, and XLA keeps it so
      return x * (1.0 / n)
    steps, bits = n.bit_length(), n.bit_length()
  else:
    n = jnp.asarray(n)
    if not jnp.issubdtype(n.dtype, jnp.integer):
      raise ValueError(f'divide needs an int divisor, got dtype {n.dtype}.')
    n = n.astype(jnp.int32)
    steps, bits = _MAX_DIVISOR.bit_length() - 1, 32 - jax.lax.clz(n)
  # Work on the bits: jnp.frexp / jnp.ldexp go through float pow(), which is not exact.
  bits_x = jax.lax.bitcast_convert_type(x, jnp.int32)
  sign = bits_x & jnp.int32(-(1 << 31))
  biased = (bits_x >> 23) & 0xFF  # |x| = M 2^(biased - 150) for normal x
  sig = jnp.where(biased > 0, (bits_x & 0x7FFFFF) | (1 << 23), 0)  # M in [2^23, 2^24)
  # n in [2^(bits-1), 2^bits); floor(log2(M / n)) is 24 - bits when M >= n 2^(24 - bits),
  # else 23 - bits; t = 23 - floor(log2(M / n)) doubling steps: bits - 1, or bits if `extra`.
  extra = sig < n << (24 - bits)
  q, r = sig // n, sig % n
  for step in range(steps):
    r2 = 2 * r
    bit = r2 >= n
    take = (step < bits - 1) | ((step == bits - 1) & extra)
    q = jnp.where(take, 2 * q + bit, q)
    r = jnp.where(take, r2 - n * bit, r)
  t = bits - 1 + extra.astype(jnp.int32)
  q = q + ((2 * r > n) | ((2 * r == n) & (q % 2 == 1)))  # round half to even
  # |x| / n = q 2^(biased - 150 - t) with q in [2^23, 2^24]; a carry to 2^24 bumps the exponent.
  carry = q >> 24
  exponent = biased - t + carry  # the result's biased exponent
  mantissa = (q >> carry) & 0x7FFFFF
  out = jnp.where((sig > 0) & (exponent > 0), (exponent << 23) | mantissa, 0)
  return jax.lax.bitcast_convert_type(out | sign, jnp.float32)
