"""Distances between embeddings, safe under `grad` at distance 0.

    d = pairwise_distances(emb, metric='euclidean')     # [B, D] -> [B, B]
    d = paired_distances(a, b, metric='squared')        # [N, D], [N, D] -> [N]

Metrics (the course's similarity function d(x1, x2)):
    'squared':   ||a - b||^2
    'euclidean': ||a - b||            (sqrt of the squared distance)
    'cosine':    1 - <a, b> / (||a|| ||b||)

The square root has an infinite derivative at 0 (a == b, e.g. every diagonal entry, or a
collapsed embedding): the Euclidean distance is computed as sqrt(max(s, 0) + [s <= 0]) *
[s > 0], so its value is exact and its gradient at 0 is 0 instead of NaN.
"""
import jax
import jax.numpy as jnp

METRICS = ('squared', 'euclidean', 'cosine')


def _check(metric: str) -> None:
  if metric not in METRICS:
    raise ValueError(f'Unknown distance metric {metric!r}; choose one of {METRICS}.')


def safe_sqrt(s: jax.Array) -> jax.Array:
  """sqrt(s) for s >= 0 (negatives from rounding count as 0) with gradient 0 at s = 0."""
  zero = s <= 0
  return jnp.where(zero, 0.0, jnp.sqrt(jnp.where(zero, 1.0, s)))


def _normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  return x / jnp.sqrt(jnp.maximum(jnp.sum(x * x, -1, keepdims=True), eps * eps))


def pairwise_distances(x: jax.Array, y: jax.Array | None = None,
                       metric: str = 'euclidean') -> jax.Array:
  """All distances between rows: x [B, D], y [C, D] (default x) -> [B, C].

  Squared distances use ||a||^2 - 2<a, b> + ||b||^2 (one matmul), clipped at 0; with y = x
  the diagonal is set to exactly 0.
  """
  _check(metric)
  same = y is None
  y = x if same else y
  if metric == 'cosine':
    return 1.0 - _normalize(x) @ _normalize(y).T
  sq = (jnp.sum(x * x, -1)[:, None] - 2.0 * (x @ y.T) + jnp.sum(y * y, -1)[None, :])
  sq = jnp.maximum(sq, 0.0)
  if same:
    sq = sq * (1.0 - jnp.eye(x.shape[0], dtype=sq.dtype))
  return sq if metric == 'squared' else safe_sqrt(sq)


def paired_distances(a: jax.Array, b: jax.Array, metric: str = 'euclidean') -> jax.Array:
  """Row-by-row distances: a, b [N, D] -> [N] (differences, not the matmul expansion)."""
  _check(metric)
  if metric == 'cosine':
    return 1.0 - jnp.sum(_normalize(a) * _normalize(b), -1)
  sq = jnp.sum(jnp.square(a - b), -1)
  return sq if metric == 'squared' else safe_sqrt(sq)
