"""Triplet and contrastive losses for embeddings f(x), with online mining on P x K batches.

The course's triplet loss on (anchor A, positive P of the same person, negative N):
    L(A, P, N) = max(||f(A) - f(P)||^2 - ||f(A) - f(N)||^2 + alpha, 0)
(`metric='squared'`; 'euclidean' uses the plain norm, = torch.nn.TripletMarginLoss; 'cosine'
uses 1 - cos). Contrastive loss for Siamese pairs (Hadsell, Chopra, LeCun 2006), y = 1 same:
    L(x1, x2, y) = 1/2 [y d^2 + (1 - y) max(m - d, 0)^2],  d = ||f(x1) - f(x2)||

Online mining (`mined_triplet_loss`) picks triplets inside a batch of B embeddings with
integer labels, all with [B, B] / [B, B, B] masks (static shapes, jittable, vmappable); `valid`
[B] marks padding rows that take part in nothing.
  'batch_all':  every valid (a, p, n); the loss is averaged over the triplets with L > 0
                (fraction_positive reports how many) - Hermans et al. 2017, omoindrot.
  'batch_hard': per anchor the farthest positive and the closest negative.
  'semi_hard':  per (a, p) pair, FaceNet's rule: the closest negative farther than the
                positive (d(a,n) > d(a,p)); when there is none, the farthest negative (as
                TensorFlow Addons' TripletSemiHardLoss).
Reductions: 'mean' over mined triplets (batch_hard, semi_hard default) or 'mean_nonzero'
over those with L > 0 (batch_all default; pytorch-metric-learning's AvgNonZeroReducer).

Collapse (every embedding equal: L = alpha exactly) shows in the returned statistics: mean
positive / negative distances, the fraction of active (L > 0) triplets; `collapse_message`
turns them into a warning.
"""
import jax
import jax.numpy as jnp

from cnn_jax.ops.distances import paired_distances, pairwise_distances

STRATEGIES = ('batch_all', 'batch_hard', 'semi_hard')
_DEFAULT_REDUCTION = {'batch_all': 'mean_nonzero', 'batch_hard': 'mean', 'semi_hard': 'mean'}


def _reduce(losses: jax.Array, mask: jax.Array, reduction: str) -> jax.Array:
  mask = mask.astype(losses.dtype)
  if reduction == 'none':
    return losses * mask
  if reduction == 'sum':
    return jnp.sum(losses * mask)
  if reduction == 'mean':
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)
  if reduction == 'mean_nonzero':
    active = mask * (losses > 0)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(active), 1.0)
  raise ValueError(f"reduction must be 'none', 'sum', 'mean' or 'mean_nonzero', got {reduction!r}.")


def triplet_loss(anchor: jax.Array, positive: jax.Array, negative: jax.Array,
                 margin: float = 0.2, metric: str = 'squared',
                 reduction: str = 'mean') -> jax.Array:
  """max(d(a, p) - d(a, n) + margin, 0) for given triplets: [N, D] x3 -> [] (or [N] 'none')."""
  d_ap = paired_distances(anchor, positive, metric)
  d_an = paired_distances(anchor, negative, metric)
  losses = jax.nn.relu(d_ap - d_an + margin)
  return _reduce(losses, jnp.ones_like(losses, bool), reduction)


def contrastive_loss(x1: jax.Array, x2: jax.Array, same: jax.Array, margin: float = 1.0,
                     reduction: str = 'mean') -> jax.Array:
  """1/2 [y d^2 + (1 - y) max(margin - d, 0)^2], d Euclidean: [N, D], [N, D], y [N] -> []."""
  d = paired_distances(x1, x2, 'euclidean')
  y = same.astype(d.dtype)
  losses = 0.5 * (y * jnp.square(d) + (1 - y) * jnp.square(jax.nn.relu(margin - d)))
  return _reduce(losses, jnp.ones_like(losses, bool), reduction)


def pair_masks(labels: jax.Array, valid: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """(positive [B, B]: same label, a != p; negative [B, B]: different label), both valid."""
  b = labels.shape[0]
  valid = jnp.ones((b,), bool) if valid is None else valid.astype(bool)
  both = valid[:, None] & valid[None, :]
  same = labels[:, None] == labels[None, :]
  return same & ~jnp.eye(b, dtype=bool) & both, ~same & both


def mined_triplet_loss(embeddings: jax.Array, labels: jax.Array, margin: float = 0.2,
                       strategy: str = 'batch_all', metric: str = 'squared',
                       valid: jax.Array | None = None,
                       reduction: str | None = None) -> tuple[jax.Array, dict]:
  """Triplet loss over triplets mined in the batch (module doc).

  Args:
    embeddings: [B, D]; labels: int [B]; valid: bool [B] (None: all rows).
    margin: alpha. strategy: 'batch_all' | 'batch_hard' | 'semi_hard'.
    metric: 'squared' | 'euclidean' | 'cosine'.
    reduction: 'mean' | 'mean_nonzero' | 'sum' (None: the strategy's default).
  Returns: (loss [], stats) with stats (all []) 'num_triplets' (mined), 'fraction_active'
    (share with L > 0), 'mean_pos_dist', 'mean_neg_dist' (over all valid pairs), and for
    'batch_hard' also 'hardest_positive', 'hardest_negative' (int [B]) and 'anchor_mask' [B].
  """
  if strategy not in STRATEGIES:
    raise ValueError(f'Unknown mining strategy {strategy!r}; choose one of {STRATEGIES}.')
  if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
    raise ValueError(f'embeddings must be [B, D] and labels [B], got {embeddings.shape} and '
                     f'{labels.shape}: flatten the embedding network output to vectors.')
  reduction = reduction or _DEFAULT_REDUCTION[strategy]
  d = pairwise_distances(embeddings, metric=metric)
  pos, neg = pair_masks(labels, valid)
  f = d.dtype
  stats = {
      'mean_pos_dist': jnp.sum(d * pos) / jnp.maximum(jnp.sum(pos), 1),
      'mean_neg_dist': jnp.sum(d * neg) / jnp.maximum(jnp.sum(neg), 1),
  }
  if strategy == 'batch_all':
    mask = pos[:, :, None] & neg[:, None, :]                      # [a, p, n]
    losses = jax.nn.relu(d[:, :, None] - d[:, None, :] + margin)
  elif strategy == 'batch_hard':
    big = jnp.max(d) + 1.0  # stop_gradient-free fill: unselected entries get no gradient
    hp = jnp.argmax(jnp.where(pos, d, -1.0), axis=1)
    hn = jnp.argmin(jnp.where(neg, d, big), axis=1)
    rows = jnp.arange(d.shape[0])
    mask = jnp.any(pos, 1) & jnp.any(neg, 1)
    losses = jax.nn.relu(d[rows, hp] - d[rows, hn] + margin)
    stats.update(hardest_positive=hp, hardest_negative=hn, anchor_mask=mask)
  else:  # semi_hard, per (a, p)
    big = jnp.max(d) + 1.0
    farther = neg[:, None, :] & (d[:, None, :] > d[:, :, None])  # [a, p, n]: d(a,n) > d(a,p)
    closest_farther = jnp.min(jnp.where(farther, d[:, None, :], big), axis=2)
    farthest = jnp.max(jnp.where(neg, d, -1.0), axis=1)
    d_an = jnp.where(jnp.any(farther, 2), closest_farther, farthest[:, None])
    mask = pos & jnp.any(neg, 1)[:, None]
    losses = jax.nn.relu(d - d_an + margin)
  stats['num_triplets'] = jnp.sum(mask).astype(f)
  stats['fraction_active'] = jnp.sum(mask & (losses > 0)) / jnp.maximum(jnp.sum(mask), 1)
  return _reduce(losses, mask, reduction), stats


def collapse_message(loss: float, stats: dict, margin: float, tol: float = 1e-3) -> str | None:
  """A warning when the embeddings look collapsed (host side, on fetched floats), else None.

  Collapse: the loss sits at the margin (|L - alpha| <= tol * alpha) while positive and
  negative distances are both ~0 - every f(x) equal, the classic failure of triplet training.
  """
  pos, neg = float(stats['mean_pos_dist']), float(stats['mean_neg_dist'])
  if abs(float(loss) - margin) <= tol * margin and max(pos, neg) <= tol * margin:
    return (f'Triplet loss {float(loss):.4g} sits at the margin {margin} with mean positive / '
            f'negative distances {pos:.3g} / {neg:.3g}: the embeddings have collapsed. Lower the '
            'learning rate, normalise the embeddings, or mine semi-hard instead of hard.')
  return None
