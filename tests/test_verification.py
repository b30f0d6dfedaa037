"""Verification / recognition metrics against scikit-learn and hand-computed cases."""
import flax.linen as nn
import numpy as np
import pytest
from sklearn import metrics as skm

from cnn_jax.metrics import verification as v


def _scores(seed=0, n=200):
  rng = np.random.default_rng(seed)
  same = rng.random(n) < 0.5
  dist = np.round(np.where(same, rng.normal(0.8, 0.3, n), rng.normal(1.4, 0.3, n)), 2)  # ties
  return dist, same


def test_roc_and_auc_equal_sklearn():
  dist, same = _scores()
  fpr, tpr, _ = v.roc_curve(dist, same)
  sk_fpr, sk_tpr, _ = skm.roc_curve(same, -dist, drop_intermediate=False)
  # Same set of operating points (sklearn also starts at (0, 0)).
  ours = set(zip(np.round(fpr, 12), np.round(tpr, 12)))
  assert ours == set(zip(np.round(sk_fpr, 12), np.round(sk_tpr, 12)))
  assert v.roc_auc(dist, same) == pytest.approx(skm.roc_auc_score(same, -dist), abs=1e-12)


def test_accuracy_and_eer_by_hand():
  dist = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
  same = np.array([1, 1, 0, 1, 0, 0], bool)
  thr = v.candidate_thresholds(dist)
  tpr, fpr, acc = v.rates(dist, same, thr)
  # threshold 0.25: 2 TA, 0 FA -> 5/6; 0.45: 3 TA, 1 FA -> 5/6; best first is 0.25.
  assert acc.max() == pytest.approx(5 / 6) and thr[np.argmax(acc)] == pytest.approx(0.25)
  # FPR = 1 - TPR at threshold 0.35 (1/3 each): EER = 1/3.
  assert v.equal_error_rate(dist, same) == pytest.approx(1 / 3)


def test_kfold_threshold_chosen_on_other_folds():
  # Fold 0 alone would prefer threshold ~0.9, folds 1, 2 prefer ~0.5: fold 0 is tested at 0.5.
  dist = np.array([0.4, 0.6, 0.8, 1.0, 0.4, 0.6, 0.4, 0.6])
  same = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
  fold = np.array([0, 0, 0, 0, 1, 1, 2, 2])
  res = v.kfold_verification(dist, same, fold)
  assert res.thresholds[0] == pytest.approx(0.5)
  np.testing.assert_allclose(res.fold_accuracy, [0.75, 1.0, 1.0])
  assert res.accuracy == pytest.approx(2.75 / 3)


def test_val_at_far_reports_resolution_and_unreachable_targets():
  dist, same = _scores(1, 400)
  fold = np.arange(400) % 10
  res = v.val_at_far(dist, same, fold, far=0.1)
  assert res.resolvable and res.far <= 0.1 + res.far_resolution and 0 < res.val <= 1
  n_diff_test = np.mean([(~same[fold == k]).sum() for k in range(10)])
  assert res.far_resolution == pytest.approx(np.mean([1 / (~same[fold == k]).sum() for k in range(10)]))
  assert res.far_resolution == pytest.approx(1 / n_diff_test, rel=0.2)
  tiny = v.val_at_far(dist, same, fold, far=1e-4)
  assert not tiny.resolvable and 'below one false accept' in tiny.message


def test_pairs_are_balanced_and_folded():
  labels = np.repeat(np.arange(5), 4)
  pairs, same, fold = v.make_pairs(labels, num_folds=3, seed=0)
  assert same.sum() == 5 * 6 == (~same).sum()
  np.testing.assert_array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], same)
  assert len({tuple(p) for p in pairs}) == len(pairs)
  for k in range(3):
    assert abs(same[fold == k].sum() - (~same[fold == k]).sum()) <= 1
  with pytest.raises(ValueError, match='two identities'):
    v.make_pairs(np.zeros(4, int))


def test_nearest_neighbour_and_one_shot_by_hand():
  # Two tight clusters and one point of identity 0 sitting inside identity 1's cluster.
  emb = np.array([[0, 0], [0, 0.1], [5, 5.35], [5, 5], [5, 5.1], [5, 5.2]], np.float32)
  labels = np.array([0, 0, 0, 1, 1, 1])
  assert v.nearest_neighbour_accuracy(emb, labels) == pytest.approx(5 / 6)  # only row 2 wrong
  separable = np.array([[0, 0], [0, 0.1], [5, 5], [5, 5.1], [9, 0], [9, 0.1]], np.float32)
  ids = np.array([0, 0, 1, 1, 2, 2])
  res = v.one_shot_accuracy(separable, ids, n_way=2, episodes=50, tau=1.0)
  assert res.accuracy == 1.0 and res.open_set_accuracy == 1.0
  res = v.one_shot_accuracy(separable, ids, n_way=2, episodes=50, tau=0.01)  # rejects everyone
  assert res.open_set_accuracy == pytest.approx(0.5)
  with pytest.raises(ValueError, match='identities'):
    v.one_shot_accuracy(separable, ids, n_way=3, tau=1.0)


class _TinyEmbedder(nn.Module):
  """flatten -> Dense(5) (-> keep the conv map when `vector` is False)."""
  vector: bool = True

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Conv(3, (3, 3))(x)
    return nn.Dense(5)(x.reshape(len(x), -1)) if self.vector else x


def test_siamese_verifier_is_exactly_symmetric_and_chi2_by_hand():
  import jax
  import jax.numpy as jnp
  from cnn_jax.models.siamese import SiameseVerifier, pair_features
  pairs = jnp.asarray(np.random.default_rng(0).random((3, 2, 6, 6, 1)), jnp.float32)
  for kind in ('abs', 'chi2'):
    net = SiameseVerifier(_TinyEmbedder(), kind)
    variables = net.init(jax.random.key(0), pairs)  # pairs stacked on axis 1
    ab, ba = net.apply(variables, pairs), net.apply(variables, pairs[:, ::-1])
    assert ab.shape == (3,)
    np.testing.assert_array_equal(np.asarray(ab), np.asarray(ba))  # V(a, b) = V(b, a) exactly
    np.testing.assert_array_equal(np.asarray(ab), np.asarray(
        net.apply(variables, pairs[:, 0], pairs[:, 1])))  # the two-argument form
  with pytest.raises(ValueError, match=r'pairs \[N, 2'):
    net.apply(variables, pairs[:, 0])
  with pytest.raises(ValueError, match='vectors'):  # an embedder whose output is no vector
    SiameseVerifier(_TinyEmbedder(vector=False)).init(jax.random.key(0), pairs)
  e1, e2 = jnp.array([[1.0, 0.0, 3.0]]), jnp.array([[3.0, 0.0, 1.0]])
  # (1-3)^2/4 = 1; 0/0 -> 0 (denominator floored); (3-1)^2/4 = 1.
  np.testing.assert_allclose(np.asarray(pair_features(e1, e2, 'chi2')), [[1.0, 0.0, 1.0]])
  np.testing.assert_allclose(np.asarray(pair_features(e1, e2, 'abs')), [[2.0, 0.0, 2.0]])
  with pytest.raises(ValueError, match='similarity'):
    pair_features(e1, e2, 'cos')
