"""Triplet / contrastive losses and online mining against torch, pytorch-metric-learning and
hand-computed cases (fixture: tests/fixtures/make_triplet_fixtures.py)."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses import triplet
from cnn_jax.ops.distances import pairwise_distances

REF = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'triplet_reference.npz')
MARGIN = 0.3


def _emb():
  return jnp.asarray(REF['emb'], jnp.float32), jnp.asarray(REF['labels'], jnp.int32)


def test_course_formula_by_hand():
  # 1-D: d(a,p) = 1, d(a,n) = 4 (squared) -> max(1 - 4 + 0.2, 0) = 0; swap -> 4 - 1 + 0.2.
  a, p, n = jnp.array([[0.0]]), jnp.array([[1.0]]), jnp.array([[2.0]])
  assert float(triplet.triplet_loss(a, p, n, 0.2, 'squared')) == 0.0
  np.testing.assert_allclose(float(triplet.triplet_loss(a, n, p, 0.2, 'squared')), 3.2, rtol=1e-6)
  np.testing.assert_allclose(float(triplet.triplet_loss(a, n, p, 0.2, 'euclidean')), 1.2, rtol=1e-6)


def test_non_squared_equals_torch_triplet_margin_loss():
  got = triplet.triplet_loss(*(jnp.asarray(REF[k], jnp.float32) for k in 'apn'), MARGIN,
                             'euclidean', reduction='none')
  # torch adds eps=1e-6 to a - p inside pairwise_distance: agreement to ~1e-5.
  np.testing.assert_allclose(np.asarray(got), REF['tml_none'], rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize('metric', ['squared', 'euclidean'])
def test_batch_all_equals_pml(metric):
  emb, labels = _emb()
  loss, stats = triplet.mined_triplet_loss(emb, labels, MARGIN, 'batch_all', metric)
  np.testing.assert_allclose(float(loss), REF[f'batch_all_{metric}'], rtol=1e-5)
  # 13 anchors with positives: 3x(3*2) + 4*3 + ... all (a, p, n) counted by brute force.
  lab = REF['labels']
  expected = sum(1 for a in range(14) for p in range(14) for n in range(14)
                 if a != p and lab[a] == lab[p] and lab[n] != lab[a])
  assert float(stats['num_triplets']) == expected
  assert 0 < float(stats['fraction_active']) <= 1


def test_cosine_metric_equals_pml_on_unit_vectors():
  emb, labels = _emb()
  loss, _ = triplet.mined_triplet_loss(emb, labels, MARGIN, 'batch_all', 'cosine')
  # ||u - v||^2 = 2 (1 - cos): PML's loss at margin 2m is twice ours at margin m.
  np.testing.assert_allclose(2 * float(loss), REF['batch_all_cosine_pml'], rtol=1e-5)


def test_batch_hard_equals_pml_miner_and_loss():
  emb, labels = _emb()
  loss, stats = triplet.mined_triplet_loss(emb, labels, MARGIN, 'batch_hard', 'euclidean')
  anchors = np.flatnonzero(np.asarray(stats['anchor_mask']))
  np.testing.assert_array_equal(anchors, REF['hard_a'])  # the lone identity 4 has no positive
  np.testing.assert_array_equal(np.asarray(stats['hardest_positive'])[anchors], REF['hard_p'])
  np.testing.assert_array_equal(np.asarray(stats['hardest_negative'])[anchors], REF['hard_n'])
  np.testing.assert_allclose(float(loss), REF['batch_hard_euclidean'], rtol=1e-5)


@pytest.mark.parametrize('metric', ['squared', 'euclidean'])
def test_semi_hard_equals_facenet_rule_loops(metric):
  emb, labels = _emb()
  loss, _ = triplet.mined_triplet_loss(emb, labels, MARGIN, 'semi_hard', metric)
  np.testing.assert_allclose(float(loss), REF[f'semi_hard_{metric}'], rtol=1e-5)


def test_padding_rows_change_nothing_and_jit():
  emb, labels = _emb()
  junk = jnp.concatenate([emb, 5 + jnp.zeros((2, 5))]), jnp.concatenate([labels, jnp.array([0, 9])])
  valid = jnp.arange(16) < 14
  fn = jax.jit(triplet.mined_triplet_loss, static_argnames=('strategy', 'metric'))
  for strategy in triplet.STRATEGIES:
    ref, _ = triplet.mined_triplet_loss(emb, labels, MARGIN, strategy, 'euclidean')
    got, _ = fn(*junk, MARGIN, strategy=strategy, metric='euclidean', valid=valid)
    np.testing.assert_allclose(float(got), float(ref), rtol=1e-6)


def test_no_nan_gradient_at_distance_zero_and_collapse_warning():
  emb = jnp.ones((6, 4))  # collapsed: every distance 0
  labels = jnp.array([0, 0, 1, 1, 2, 2])
  for metric in ('squared', 'euclidean'):
    for strategy in triplet.STRATEGIES:
      (loss, stats), g = jax.value_and_grad(
          lambda e: triplet.mined_triplet_loss(e, labels, 0.2, strategy, metric), has_aux=True)(emb)
      assert np.all(np.isfinite(np.asarray(g))), (metric, strategy)
      np.testing.assert_allclose(float(loss), 0.2, rtol=1e-6)  # sits at the margin
      assert 'collapsed' in triplet.collapse_message(float(loss), stats, 0.2)
  g = jax.grad(lambda x: pairwise_distances(x).sum())(jnp.array([[1.0, 2.0], [1.0, 2.0]]))
  np.testing.assert_array_equal(np.asarray(g), 0.0)  # sqrt'(0) would be inf -> NaN
  emb, labels = _emb()
  loss, stats = triplet.mined_triplet_loss(emb, labels, MARGIN)
  assert triplet.collapse_message(float(loss), stats, MARGIN) is None


def test_contrastive_by_hand():
  x1 = jnp.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
  x2 = jnp.array([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
  same = jnp.array([1, 0, 0])
  # same: 1/2 * 25; different at d=0.5 < m=1: 1/2 * 0.25; different at d=5: 0.
  got = triplet.contrastive_loss(x1, x2, same, margin=1.0, reduction='none')
  np.testing.assert_allclose(np.asarray(got), [12.5, 0.125, 0.0], rtol=1e-6)


def test_bad_input_errors():
  with pytest.raises(ValueError, match='vectors'):
    triplet.mined_triplet_loss(jnp.zeros((4, 2, 2)), jnp.zeros((4,), jnp.int32))
  with pytest.raises(ValueError, match='strategy'):
    triplet.mined_triplet_loss(jnp.zeros((4, 2)), jnp.zeros((4,), jnp.int32), strategy='hardest')
  with pytest.raises(ValueError, match='metric'):
    triplet.triplet_loss(jnp.zeros((1, 2)), jnp.zeros((1, 2)), jnp.zeros((1, 2)), metric='l1')
