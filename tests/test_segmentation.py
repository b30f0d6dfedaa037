"""Segmentation losses and metrics against segmentation-models-pytorch / PyTorch (a fixture
computed once, tests/fixtures/make_segmentation_smp.py), hand-computed cases, and the
nuclei data carrier."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses import segmentation as losses
from cnn_jax.metrics import segmentation as metrics

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'segmentation_smp.npz')
K, IGNORE = 4, 255


def test_stats_and_every_reduction_match_smp():
  tp, fp, fn, tn = jax.jit(lambda p, t: metrics.stats(p, t, K, IGNORE))(
      FIXTURE['pred'], FIXTURE['target'])
  for name, value in zip(('tp', 'fp', 'fn', 'tn'), (tp, fp, fn, tn)):
    np.testing.assert_array_equal(value, FIXTURE[name])
  assert int(tp[0, 3] + fp[0, 3] + fn[0, 3]) == 0  # the empty class of image 0
  ours = {'iou_score': metrics.iou, 'f1_score': metrics.dice, 'accuracy': metrics.class_accuracy}
  checked = 0
  for key in FIXTURE.files:
    if key.count('/') != 2:
      continue
    metric, reduction, zero = key.split('/')
    kw = dict(class_weights=FIXTURE['class_weights']) if reduction == 'weighted' else {}
    value = ours[metric](tp, fp, fn, tn, reduction=reduction, empty=float(zero), **kw)
    np.testing.assert_allclose(value, FIXTURE[key], rtol=1e-6, err_msg=key)
    checked += 1
  assert checked == 36
  # Pixel accuracy: right pixels / counted pixels, by hand.
  counted = FIXTURE['target'] != IGNORE
  right = (FIXTURE['pred'] == FIXTURE['target']) & counted
  assert float(metrics.pixel_accuracy(tp, fp, fn, tn)) == pytest.approx(right.sum() / counted.sum())
  np.testing.assert_allclose(metrics.pixel_accuracy(tp, fp, fn, tn, per_image=True),
                             right.sum((1, 2)) / counted.sum((1, 2)), rtol=1e-6)
  with pytest.raises(ValueError, match='Unknown reduction'):
    metrics.iou(tp, fp, fn, tn, reduction='mean')


def test_confusion_matrix_accumulates_each_example_once():
  """Batches of 2 with the last one padded: the accumulated matrix equals the one-shot
  matrix over the 3 real images, and its macro scores equal smp's 'macro'."""
  pred, target = FIXTURE['pred'], FIXTURE['target']
  acc = metrics.ConfusionMatrix(K, IGNORE)
  acc.update(pred[:2], target[:2])
  acc.update(np.concatenate([pred[2:], pred[:1]]), np.concatenate([target[2:], target[:1]]),
             valid=np.array([True, False]))
  result = acc.result()
  assert result['examples'] == 3
  np.testing.assert_array_equal(acc.matrix, metrics.confusion_matrix(pred, target, K, IGNORE))
  counted = target != IGNORE
  ref = np.zeros((K, K), int)
  np.add.at(ref, (target[counted], pred[counted]), 1)
  np.testing.assert_array_equal(acc.matrix, ref)
  np.testing.assert_allclose(result['miou'], FIXTURE['iou_score/macro/1.0'], rtol=1e-6)
  np.testing.assert_allclose(result['mean_dice'], FIXTURE['f1_score/macro/1.0'], rtol=1e-6)
  np.testing.assert_allclose(result['iou'],
                             np.diag(ref) / (ref.sum(0) + ref.sum(1) - np.diag(ref)))


def test_losses_match_torch_and_smp():
  logits = jnp.asarray(FIXTURE['logits'])
  ce = losses.pixel_cross_entropy(logits, FIXTURE['target'], FIXTURE['class_weights'], IGNORE)
  np.testing.assert_allclose(ce, FIXTURE['ce/weighted_ignore'], rtol=1e-5)
  np.testing.assert_allclose(losses.pixel_cross_entropy(logits, FIXTURE['target_full']),
                             FIXTURE['ce/plain'], rtol=1e-5)
  np.testing.assert_allclose(losses.soft_dice_loss(logits, FIXTURE['target_full']),
                             FIXTURE['dice_loss/None'], rtol=1e-5)
  np.testing.assert_allclose(losses.soft_dice_loss(logits, FIXTURE['target'], IGNORE),
                             FIXTURE['dice_loss/255'], rtol=1e-5)
  both = losses.dice_ce_loss(logits, FIXTURE['target'], 0.5, 2.0, FIXTURE['class_weights'],
                             IGNORE)
  np.testing.assert_allclose(both, 2.0 * FIXTURE['ce/weighted_ignore']
                             + 0.5 * FIXTURE['dice_loss/255'], rtol=1e-5)
  # Pixel weights: doubling one pixel's weight = counting it twice.
  labels = jnp.asarray(FIXTURE['target_full'])
  weights = jnp.ones(labels.shape).at[0, 0, 0].set(2.0)
  nll = -jax.nn.log_softmax(logits, -1)
  nll = jnp.take_along_axis(nll, labels[..., None], -1)[..., 0]
  expected = (nll.sum() + nll[0, 0, 0]) / (nll.size + 1)
  np.testing.assert_allclose(losses.pixel_cross_entropy(logits, labels, pixel_weights=weights),
                             expected, rtol=1e-5)
  g = jax.grad(lambda z: losses.dice_ce_loss(z, FIXTURE['target'], ignore_index=IGNORE))(logits)
  ignored = FIXTURE['target'] == IGNORE
  assert np.abs(np.asarray(g)[ignored]).max() == 0.0 and np.abs(np.asarray(g)).max() > 0


def test_border_weight_map_by_hand():
  """Two cells with a 2-px gap (columns 5, 6): gap pixel (4, 5) is 1 px from cell 1 and 2 px
  from cell 2 (pixel centres), so w = w_bg + w0 exp(-(1 + 2)^2 / (2 sigma^2)); cells: w_c;
  one cell only: no border term, the balanced weight P / (2 P_bg)."""
  inst = np.zeros((9, 12), np.int32)
  inst[2:7, 1:5] = 1
  inst[2:7, 7:11] = 2
  w = losses.border_weight_map(inst, w0=10.0, sigma=5.0, class_weights=np.array([1.0, 3.0]))
  np.testing.assert_allclose(w[4, 5], 1.0 + 10.0 * np.exp(-9.0 / 50.0), rtol=1e-6)
  np.testing.assert_allclose(w[inst > 0], 3.0)
  d1, d2 = np.hypot(2, 1), np.hypot(2, 7)   # corner pixel (0, 0): to (2, 1) and (2, 7)
  np.testing.assert_allclose(w[0, 0], 1.0 + 10.0 * np.exp(-(d1 + d2) ** 2 / 50.0), rtol=1e-6)
  one = (inst == 1).astype(np.int32)
  np.testing.assert_allclose(losses.border_weight_map(one)[one == 0],
                             one.size / (2 * (one == 0).sum()), rtol=1e-6)
  with pytest.raises(ValueError, match='label value 7 at index \\(1, 2\\)'):
    losses.check_labels(np.array([[0, 1, 1], [0, 0, 7]]).reshape(2, 3), 3, source='mask.png')
  losses.check_labels(np.array([0, 2, 255]), 3, ignore_index=255)
