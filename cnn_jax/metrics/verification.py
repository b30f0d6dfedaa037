"""Face verification and recognition metrics on embedding distances (host side, float64 numpy).

Verification ("same person?", the LFW protocol): pairs (i, j) with a distance d and a label
same / different; predict same when d < threshold.
    pairs = make_pairs(labels, num_folds=10, seed=0)           # balanced same/different
    res = kfold_verification(dist, same, folds)  # threshold chosen on 9 folds, tested on the 10th
    fpr, tpr, thr = roc_curve(dist, same); roc_auc(dist, same); equal_error_rate(dist, same)
    val_at_far(dist, same, folds, far=1e-2)       # VAL (TAR) at a FAR, with the FAR resolution
Recognition ("who is it?"):
    nearest_neighbour_accuracy(emb, labels)       # leave-one-out 1-NN identity accuracy
    one_shot_accuracy(emb, labels, n_way=5, ...)  # N-way 1-shot episodes (database of one image
                                                  # per person; open set with threshold tau)

Thresholds: every candidate between consecutive sorted distances (midpoints, plus one below
and one above all) - the exact optimum, where FaceNet's `lfw.evaluate` scans a fixed grid
0..4 step 0.01 (pass `thresholds=` for that). Ties between thresholds: the smallest wins.
A FAR target below one false accept in the training folds (1 / #different pairs there) cannot be
resolved: `val_at_far` then says so in its result instead of silently using threshold 0.
"""
import dataclasses

import numpy as np

from cnn_jax.ops.distances import pairwise_distances


def _as(dist, same):
  dist = np.asarray(dist, np.float64).reshape(-1)
  same = np.asarray(same).astype(bool).reshape(-1)
  if dist.shape != same.shape:
    raise ValueError(f'dist {dist.shape} and same {same.shape} must have one entry per pair.')
  return dist, same


def candidate_thresholds(dist: np.ndarray) -> np.ndarray:
  """Midpoints between consecutive distinct distances, plus one below and one above all."""
  u = np.unique(np.asarray(dist, np.float64))
  if u.size == 0:
    return np.array([0.0])
  return np.concatenate([[u[0] - 1.0], (u[1:] + u[:-1]) / 2, [u[-1] + 1.0]])


def rates(dist, same, thresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(TPR = TA/#same, FPR = FA/#different, accuracy) for each threshold (predict d < t)."""
  dist, same = _as(dist, same)
  pred = dist[None, :] < np.asarray(thresholds, np.float64)[:, None]
  tp = np.sum(pred & same, 1)
  fp = np.sum(pred & ~same, 1)
  tn = np.sum(~pred & ~same, 1)
  n_same, n_diff = max(same.sum(), 1), max((~same).sum(), 1)
  return tp / n_same, fp / n_diff, (tp + tn) / max(len(dist), 1)


def make_pairs(labels: np.ndarray, num_folds: int = 10, seed: int = 0,
               max_same: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Balanced verification pairs over the images `labels` [N] describe, split into folds.

  Every same-identity pair (i < j) is used (or a seeded draw of `max_same` of them), and as
  many different-identity pairs drawn without replacement; each fold gets an equal share of
  both. Returns (pairs int [M, 2], same bool [M], fold int [M]).
  """
  labels = np.asarray(labels)
  rng = np.random.default_rng(seed)
  i, j = np.triu_indices(len(labels), k=1)
  is_same = labels[i] == labels[j]
  same_idx, diff_idx = np.flatnonzero(is_same), np.flatnonzero(~is_same)
  if same_idx.size == 0 or diff_idx.size == 0:
    raise ValueError('make_pairs needs at least two identities and one identity with two images.')
  same_idx = rng.permutation(same_idx)[:max_same]
  diff_idx = rng.choice(diff_idx, size=min(len(same_idx), len(diff_idx)), replace=False)
  out_pairs, out_same, out_fold = [], [], []
  for idx, flag in ((same_idx, True), (diff_idx, False)):
    idx = rng.permutation(idx)
    out_pairs.append(np.stack([i[idx], j[idx]], 1))
    out_same.append(np.full(len(idx), flag))
    out_fold.append(np.arange(len(idx)) % num_folds)
  return np.concatenate(out_pairs), np.concatenate(out_same), np.concatenate(out_fold)


def pair_distances(embeddings: np.ndarray, pairs: np.ndarray, metric: str = 'euclidean') -> np.ndarray:
  """d(f(x_i), f(x_j)) for pairs [M, 2] of rows of embeddings [N, D] -> [M]."""
  e = np.asarray(embeddings, np.float64)
  a, b = e[pairs[:, 0]], e[pairs[:, 1]]
  if metric == 'cosine':
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return 1.0 - np.sum(a * b, 1)
  sq = np.sum((a - b) ** 2, 1)
  return sq if metric == 'squared' else np.sqrt(sq)


@dataclasses.dataclass
class KFoldResult:
  """accuracy: mean over test folds (std: their std); fold_accuracy, thresholds: per fold."""
  accuracy: float
  std: float
  fold_accuracy: np.ndarray
  thresholds: np.ndarray


def kfold_verification(dist, same, fold, thresholds=None) -> KFoldResult:
  """LFW protocol: for each fold k, the threshold with the best accuracy on the other folds
  is applied to fold k; accuracy = mean over folds of the test-fold accuracies.

  dist, same, fold: [M] per pair. thresholds: candidates (default `candidate_thresholds`).
  """
  dist, same = _as(dist, same)
  fold = np.asarray(fold).reshape(-1)
  accs, chosen = [], []
  for k in np.unique(fold):
    train, test = fold != k, fold == k
    cand = candidate_thresholds(dist[train]) if thresholds is None else np.asarray(thresholds)
    _, _, acc_train = rates(dist[train], same[train], cand)
    t = cand[int(np.argmax(acc_train))]  # first (smallest) best threshold
    chosen.append(t)
    accs.append(rates(dist[test], same[test], [t])[2][0])
  accs = np.asarray(accs)
  return KFoldResult(float(accs.mean()), float(accs.std()), accs, np.asarray(chosen))


def roc_curve(dist, same) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(FPR, TPR, thresholds), FPR ascending from 0 to 1 (predict same when d < threshold)."""
  dist, same = _as(dist, same)
  thr = candidate_thresholds(dist)
  tpr, fpr, _ = rates(dist, same, thr)
  return fpr, tpr, thr


def roc_auc(dist, same) -> float:
  """Area under the ROC = P(d_same < d_diff) + 1/2 P(d_same = d_diff) (Mann-Whitney U)."""
  dist, same = _as(dist, same)
  ds, dd = dist[same], dist[~same]
  if ds.size == 0 or dd.size == 0:
    raise ValueError('roc_auc needs both same and different pairs.')
  less = np.sum(ds[:, None] < dd[None, :])
  ties = np.sum(ds[:, None] == dd[None, :])
  return float((less + 0.5 * ties) / (ds.size * dd.size))


def equal_error_rate(dist, same) -> float:
  """The error where FPR = 1 - TPR (FAR = FRR), linearly interpolated on the ROC."""
  fpr, tpr, _ = roc_curve(dist, same)
  fnr = 1.0 - tpr
  k = int(np.flatnonzero(fpr >= fnr)[0])  # first crossing; fpr rises, fnr falls
  if k == 0:
    return float(fpr[0])
  a0, a1 = fpr[k - 1] - fnr[k - 1], fpr[k] - fnr[k]
  w = a0 / (a0 - a1) if a1 != a0 else 0.0
  return float(fpr[k - 1] + w * (fpr[k] - fpr[k - 1]))


@dataclasses.dataclass
class ValResult:
  """val, far: mean test-fold VAL (TAR) and FAR; far_resolution: the step of one false
  accept in a test fold (mean 1 / #different); resolvable: the training folds could express
  the target (target >= 1 / #different there); message: what it means when not."""
  val: float
  val_std: float
  far: float
  far_target: float
  far_resolution: float
  resolvable: bool
  message: str


def val_at_far(dist, same, fold, far: float = 1e-3) -> ValResult:
  """VAL at a target FAR (FaceNet's `calculate_val`), folds as `kfold_verification`: on the
  training folds the largest threshold whose FAR <= target; VAL and FAR measured on the test
  fold. An unresolvable target is reported (resolvable=False), never silently met by 0."""
  dist, same = _as(dist, same)
  fold = np.asarray(fold).reshape(-1)
  vals, fars, steps, ok = [], [], [], True
  for k in np.unique(fold):
    train, test = fold != k, fold == k
    cand = candidate_thresholds(dist[train])
    _, fpr_train, _ = rates(dist[train], same[train], cand)
    ok &= far >= 1.0 / max((~same[train]).sum(), 1)
    t = cand[np.flatnonzero(fpr_train <= far)[-1]]  # fpr is 0 below every distance
    tpr, fpr, _ = rates(dist[test], same[test], [t])
    vals.append(tpr[0])
    fars.append(fpr[0])
    steps.append(1.0 / max((~same[test]).sum(), 1))
  msg = '' if ok else (f'FAR {far:g} is below one false accept in the training folds '
                       f'(resolution {np.mean(steps):.3g} per test fold): the threshold admits no false accept on '
                       'them, and VAL is the rate at that threshold.')
  return ValResult(float(np.mean(vals)), float(np.std(vals)), float(np.mean(fars)), far,
                   float(np.mean(steps)), bool(ok), msg)


def nearest_neighbour_accuracy(embeddings: np.ndarray, labels: np.ndarray,
                               metric: str = 'euclidean') -> float:
  """Leave-one-out 1-NN identity accuracy: each image takes the label of its nearest other
  image (ties: the lowest index)."""
  d = np.asarray(pairwise_distances(np.asarray(embeddings, np.float32), metric=metric), np.float64)
  np.fill_diagonal(d, np.inf)
  labels = np.asarray(labels)
  return float(np.mean(labels[np.argmin(d, 1)] == labels))


@dataclasses.dataclass
class OneShotResult:
  """accuracy: closed-set N-way 1-shot accuracy over the episodes; open_set_accuracy: with
  threshold tau, a query of a person not in the database (one extra impostor query per
  episode) must be rejected (d_min >= tau) and a known one matched (d_min < tau and right)."""
  accuracy: float
  open_set_accuracy: float | None
  n_way: int
  episodes: int


def one_shot_accuracy(embeddings: np.ndarray, labels: np.ndarray, n_way: int = 5,
                      episodes: int = 1000, seed: int = 0, tau: float | None = None,
                      metric: str = 'euclidean') -> OneShotResult:
  """N-way 1-shot recognition on the identities in `labels` (course: the database holds one
  image per person). Per episode (seeded): N identities, one database image each, one query
  image of one of them (a different image); correct if its nearest database image is the
  query's person. With `tau`, each episode also queries a person outside the N."""
  labels = np.asarray(labels)
  ids = np.unique(labels)
  if n_way > len(ids) - (tau is not None):
    raise ValueError(f'{n_way}-way needs {n_way + (tau is not None)} identities; there are {len(ids)}.')
  d = np.asarray(pairwise_distances(np.asarray(embeddings, np.float32), metric=metric), np.float64)
  rng = np.random.default_rng(seed)
  by_id = {c: np.flatnonzero(labels == c) for c in ids}
  closed = opened = 0
  for _ in range(episodes):
    chosen = rng.choice(ids, n_way + (tau is not None), replace=False)
    people = chosen[:n_way]
    support = np.array([rng.choice(by_id[c]) for c in people])
    target = rng.integers(n_way)
    query = rng.choice(np.setdiff1d(by_id[people[target]], support[target]))
    dq = d[query, support]
    closed += int(np.argmin(dq) == target)
    if tau is not None:
      opened += int(np.argmin(dq) == target and dq.min() < tau)
      stranger = rng.choice(by_id[chosen[-1]])
      opened += int(d[stranger, support].min() >= tau)
  return OneShotResult(closed / episodes, opened / (2 * episodes) if tau is not None else None,
                       n_way, episodes)
