"""ops.nms: torchvision parity at every threshold, a plain reference, NMS properties, soft-NMS."""
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from cnn_jax.ops import nms as N

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_boxes.npz')
CASES = ('random', 'ties', 'identical', 'degenerate', 'clusters')
PAD = 300  # every fixture case padded to one shape: one compile for all of them


def iou_row(box, boxes):
  """float32 IoU in torchvision's operation order, 0 where the union is empty."""
  w = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0)
  h = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0)
  area = lambda b: np.maximum(b[..., 2] - b[..., 0], 0) * np.maximum(b[..., 3] - b[..., 1], 0)
  inter = (w * h).astype(np.float32)
  union = (area(box) + area(boxes) - inter).astype(np.float32)
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(union > 0, inter / union, np.float32(0))


def reference_nms(boxes, scores, thr, labels=None, suppress_equal=False, score_threshold=None,
                  top_k=None, max_out=None):
  """The course's loop, written plainly: take the best remaining box, drop its overlaps."""
  boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
  labels = np.zeros(len(boxes), int) if labels is None else np.asarray(labels)
  order = [i for i in np.argsort(-scores, kind='stable')
           if score_threshold is None or scores[i] > score_threshold]
  remaining = order[:top_k] if top_k is not None else order
  keep = []
  while remaining and (max_out is None or len(keep) < max_out):
    best, remaining = remaining[0], remaining[1:]
    keep.append(best)
    ious = iou_row(boxes[best], boxes[remaining]) if remaining else []
    remaining = [r for r, o in zip(remaining, ious)
                 if labels[r] != labels[best] or not (o >= thr if suppress_equal else o > thr)]
  return keep


@jax.jit
def _nms_all_thresholds(boxes, scores, valid, thresholds):
  return jax.vmap(lambda t: N.nms(boxes, scores, t, valid=valid))(thresholds)


@jax.jit
def _batched_all_thresholds(boxes, scores, labels, thresholds):
  return jax.vmap(lambda t: N.batched_nms(boxes, scores, labels, t))(thresholds)


def _padded(boxes, scores):
  n = len(boxes)
  pad_boxes = np.zeros((PAD, 4), np.float32)
  pad_boxes[:n] = boxes
  pad_scores = np.zeros(PAD, np.float32)
  pad_scores[:n] = scores
  return pad_boxes, pad_scores, np.arange(PAD) < n


def test_nms_equals_torchvision_at_every_threshold():
  thresholds = FIXTURE['thresholds']
  for case in CASES:
    boxes, scores = FIXTURE[f'nms_{case}_boxes'], FIXTURE[f'nms_{case}_scores']
    n = len(boxes)
    got = _nms_all_thresholds(*_padded(boxes, scores), thresholds)
    want = FIXTURE[f'nms_{case}_keep']
    for t, indices, count, keep in zip(thresholds, got.indices, got.count, want):
      np.testing.assert_array_equal(indices[:n], keep, err_msg=f'{case} at IoU {t}')
      assert np.all(np.asarray(indices[n:]) == -1) and count == np.sum(keep >= 0)


def test_batched_nms_equals_torchvision():
  thresholds = FIXTURE['thresholds']
  got = _batched_all_thresholds(FIXTURE['bnms_boxes'], FIXTURE['bnms_scores'],
                                FIXTURE['bnms_labels'], thresholds)
  scores = FIXTURE['bnms_scores']
  for t, indices, keep, vanilla in zip(thresholds, got.indices, FIXTURE['bnms_keep'],
                                       FIXTURE['bnms_keep_vanilla']):
    np.testing.assert_array_equal(indices, keep, err_msg=f'IoU {t}')
    # torchvision's per-class loop keeps the same boxes; its final unstable sort may swap ties.
    real = np.asarray(indices)[np.asarray(indices) >= 0]
    assert set(real) == set(vanilla[vanilla >= 0])
    np.testing.assert_array_equal(scores[real], scores[vanilla[vanilla >= 0]])


def test_options_match_reference():
  boxes, scores = FIXTURE['nms_ties_boxes'], FIXTURE['nms_ties_scores']
  labels = np.arange(len(boxes)) % 3
  run = jax.jit(functools.partial(N.nms, iou_threshold=0.5, max_output_size=20,
                                  score_threshold=0.25, pre_nms_top_k=60, suppress_equal=True))
  got = run(boxes, scores, labels=labels)
  want = reference_nms(boxes, scores, 0.5, labels, True, 0.25, 60, 20)
  assert int(got.count) == len(want)
  np.testing.assert_array_equal(got.indices[:len(want)], want)
  assert np.all(np.asarray(got.indices[len(want):]) == -1)
  np.testing.assert_array_equal(got.mask, np.asarray(got.indices) >= 0)
  # The IoU tie rule matters on integer boxes: >= suppresses more than >.
  strict = reference_nms(boxes, scores, 0.5)
  assert len(reference_nms(boxes, scores, 0.5, suppress_equal=True)) < len(strict)


@jax.jit
def _per_class(boxes, scores, labels):
  return N.batched_nms(boxes, scores, labels, 0.4, 150, pre_nms_top_k=280)


def test_per_class_windows_balanced_and_unbalanced():
  # 300 boxes: 20 balanced classes (the 75-box window) or one class of 250 (the full window).
  boxes, scores = FIXTURE['nms_clusters_boxes'], FIXTURE['nms_clusters_scores']
  rng = np.random.default_rng(0)
  for labels in (np.arange(300) % 20, np.where(rng.uniform(size=300) < 0.8, 0, rng.integers(1, 4, 300))):
    got = _per_class(boxes, scores, labels.astype(np.int32))
    want = reference_nms(boxes, scores, 0.4, labels, top_k=280)[:150]
    assert int(got.count) == len(want)
    np.testing.assert_array_equal(got.indices[:len(want)], want)


def test_course_procedure():
  boxes = jnp.array([[0., 0., 10., 10.],    # p 0.9: kept
                     [1., 0., 11., 10.],    # p 0.8: IoU 9/11 > 0.5 with the first: dropped
                     [20., 20., 30., 30.],  # p 0.7: kept
                     [40., 40., 50., 50.],  # p 0.6: not > 0.6, discarded before NMS
                     [0., 0., 10., 20.]])   # p 0.65: IoU 0.5 with the first, not > 0.5: kept
  p_c = jnp.array([0.9, 0.8, 0.7, 0.6, 0.65])
  got = jax.jit(N.course_nms, static_argnums=2)(boxes, p_c, 4)
  np.testing.assert_array_equal(got.indices, [0, 2, 4, -1])
  assert int(got.count) == 3


def test_vmap_over_images():
  b1, s1 = FIXTURE['nms_clusters_boxes'][:100], FIXTURE['nms_clusters_scores'][:100]
  b2, s2 = FIXTURE['nms_random_boxes'][:100], FIXTURE['nms_random_scores'][:100]
  got = jax.jit(jax.vmap(lambda b, s: N.nms(b, s, 0.5, 50)))(np.stack([b1, b2]), np.stack([s1, s2]))
  for b, s, indices, count in zip((b1, b2), (s1, s2), got.indices, got.count):
    want = reference_nms(b, s, 0.5, max_out=50)
    assert int(count) == len(want)
    np.testing.assert_array_equal(indices[:len(want)], want)


_SIZE = 12
_coord = st.integers(0, 24)
_box = st.tuples(_coord, _coord, st.integers(1, 12), st.integers(1, 12))


@jax.jit
def _property_run(boxes, scores, labels, thr):
  first = N.batched_nms(boxes, scores, labels, thr)
  # Idempotence: NMS over the kept boxes alone keeps all of them.
  again = N.batched_nms(boxes, scores, labels, thr, valid=jnp.zeros(_SIZE, bool).at[
      jnp.where(first.mask, first.indices, _SIZE)].set(True, mode='drop'))
  return first, again


@settings(max_examples=30, deadline=None)
@given(st.lists(_box, min_size=_SIZE, max_size=_SIZE),
       st.lists(st.integers(0, 6), min_size=_SIZE, max_size=_SIZE),
       st.lists(st.integers(0, 2), min_size=_SIZE, max_size=_SIZE),
       st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9]))
def test_nms_properties(raw, score_levels, labels, thr):
  raw = np.asarray(raw, np.float32)
  boxes = np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:]], 1)
  scores, labels = np.asarray(score_levels, np.float32) / 6, np.asarray(labels)
  first, again = _property_run(boxes, scores, labels, np.float32(thr))
  kept = np.asarray(first.indices)[:int(first.count)]
  assert len(set(kept)) == len(kept) and np.all((kept >= 0) & (kept < _SIZE))  # a subset
  assert np.all(np.diff(scores[kept]) <= 0)  # decreasing score
  for i, a in enumerate(kept):  # no two kept boxes of one class overlap above the threshold
    same = [b for b in kept[i + 1:] if labels[b] == labels[a]]
    if same:
      assert np.all(iou_row(boxes[a], boxes[same]) <= np.float32(thr))
  np.testing.assert_array_equal(np.asarray(again.indices)[:int(again.count)], kept)
  np.testing.assert_array_equal(kept, reference_nms(boxes, scores, np.float32(thr), labels))


def reference_soft_nms(boxes, scores, method, sigma, thr, score_threshold, labels):
  scores = np.asarray(scores, np.float32).copy()
  alive = scores >= score_threshold
  out_i, out_s = [], []
  while alive.any():
    j = int(np.argmax(np.where(alive, scores, -np.inf)))
    out_i.append(j)
    out_s.append(scores[j])
    iou = iou_row(boxes[j], boxes)
    if method == 'linear':
      decay = np.where(iou > thr, 1 - iou, 1)
    elif method == 'gaussian':
      decay = np.exp(-(iou * iou) / sigma)
    else:
      decay = np.where(iou > thr, 0, 1)
    scores = scores * np.where(labels == labels[j], decay, 1).astype(np.float32)
    alive[j] = False
    alive &= scores >= score_threshold
  return out_i, out_s


def test_soft_nms_matches_reference_and_hard_equals_nms():
  boxes, scores = FIXTURE['nms_clusters_boxes'][:80], FIXTURE['nms_clusters_scores'][:80]
  labels = np.arange(80) % 2
  for method in ('linear', 'gaussian', 'hard'):
    got = jax.jit(functools.partial(N.soft_nms, method=method, sigma=0.5, iou_threshold=0.3,
                                    score_threshold=0.05))(boxes, scores, labels=labels)
    want_i, want_s = reference_soft_nms(boxes, scores, method, 0.5, 0.3, 0.05, labels)
    assert int(got.count) == len(want_i), method
    np.testing.assert_array_equal(got.indices[:len(want_i)], want_i, err_msg=method)
    np.testing.assert_allclose(got.scores[:len(want_i)], want_s, rtol=1e-5)
    if method == 'hard':
      np.testing.assert_array_equal(
          want_i, reference_nms(boxes, scores, 0.3, labels, score_threshold=0.05 - 1e-9))
    else:  # soft: nothing is lost outright, so at least as many boxes as hard NMS survive
      assert len(want_i) >= len(reference_nms(boxes, scores, 0.3, labels, score_threshold=0.05))


def test_benchmark_suite_smoke():
  """experiments/bench_nms.py:smoke runs every case of the `boxes` suite (tiny shapes)."""
  import runpy
  from cnn_jax.tasks import benchmark
  config = runpy.run_path(str(pathlib.Path(__file__).parents[1] / 'experiments' / 'bench_nms.py'))[
      'get_config']('smoke')
  report = benchmark.run(config)
  names = {r.name for r in report.results if r.impl == 'jax'}
  assert len(names) == 5 and all(r.median_s > 0 for r in report.results)
