"""metrics.detection / metrics.coco: pycocotools parity, a VOC devkit reference, hand-made APs."""
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.metrics import coco, detection

FIXTURE = json.loads((pathlib.Path(__file__).parent / 'fixtures' / 'coco_map.json').read_text())
BATCH, DETS, GTS = 2, 160, 12  # one padded shape for every update: one compile per matcher


def padded_batches(images):
  """Yields update() keyword arguments for BATCH images at a time, padded to DETS / GTS."""
  for start in range(0, len(images), BATCH):
    chunk = images[start:start + BATCH]
    assert len(chunk) == BATCH
    b = dict(det_boxes=np.zeros((BATCH, DETS, 4), np.float32),
             det_scores=np.zeros((BATCH, DETS), np.float32),
             det_labels=np.zeros((BATCH, DETS), np.int32), det_valid=np.zeros((BATCH, DETS), bool),
             gt_boxes=np.zeros((BATCH, GTS, 4), np.float32), gt_labels=np.zeros((BATCH, GTS), np.int32),
             gt_valid=np.zeros((BATCH, GTS), bool), gt_crowd=np.zeros((BATCH, GTS), bool),
             gt_area=np.zeros((BATCH, GTS), np.float32))
    for i, im in enumerate(chunk):
      n, g = len(im['det_scores']), len(im['gt_labels'])
      assert n <= DETS and g <= GTS
      if n:
        b['det_boxes'][i, :n], b['det_scores'][i, :n] = im['det_boxes'], im['det_scores']
        b['det_labels'][i, :n], b['det_valid'][i, :n] = im['det_labels'], True
      if g:
        b['gt_boxes'][i, :g], b['gt_labels'][i, :g] = im['gt_boxes'], im['gt_labels']
        b['gt_valid'][i, :g], b['gt_crowd'][i, :g] = True, im['gt_crowd']
        b['gt_area'][i, :g] = im['gt_area']
    yield b


@pytest.mark.parametrize('scenario', sorted(FIXTURE))
def test_coco_equals_pycocotools(scenario):
  data = FIXTURE[scenario]
  ev = coco.CocoEvaluator(data['num_classes'])
  for batch in padded_batches(data['images']):
    ev.update(**batch)
  got, ref = ev.result(), data['pycocotools']
  np.testing.assert_allclose(got['stats'], ref['stats'], atol=1e-6)
  np.testing.assert_allclose(got['recall'], ref['recall'], atol=1e-6)
  p = got['precision']
  mean_p = np.where((p > -1).all(axis=1), p.mean(axis=1), -1)
  np.testing.assert_allclose(mean_p, ref['mean_precision'], atol=1e-6)
  assert got['AP'] == got['stats'][0] and got['AR100'] == got['stats'][8]


def _one_class_case():
  """2 objects; detections: hit (0.9), miss (0.85), hit (0.8)."""
  gts = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
  dets = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [21, 21, 40, 40]], np.float32)
  return dets, np.array([0.9, 0.85, 0.8], np.float32), gts


def test_hand_computed_ap_coco_and_voc():
  dets, scores, gts = _one_class_case()
  args = (dets[None], scores[None], np.zeros((1, 3), np.int32), np.ones((1, 3), bool),
          gts[None], np.zeros((1, 2), np.int32), np.ones((1, 2), bool))
  # Precision 1 up to recall 0.5, then 2/3: COCO's 101-point interpolation and VOC's two rules.
  ev = coco.CocoEvaluator(1)
  ev.update(*args)
  np.testing.assert_allclose(ev.result()['AP50'], (51 + 50 * 2 / 3) / 101)
  voc = detection.VocEvaluator(1)
  voc.update(*args)
  np.testing.assert_allclose(voc.result()['mAP'], 0.5 * 1 + 0.5 * 2 / 3)
  voc07 = detection.VocEvaluator(1, use_07_metric=True)
  voc07.update(*args)
  np.testing.assert_allclose(voc07.result()['mAP'], (6 + 5 * 2 / 3) / 11)


def test_coco_match_crowd_areas_and_max_dets():
  gts = jnp.array([[0., 0., 100., 100.],   # crowd region
                   [10., 10., 30., 30.],   # real, small (20 x 20 = 400 < 32²)
                   [0., 0., 100., 100.]])  # real, large, over the crowd region
  dets = jnp.array([[0., 0., 100., 100.], [40., 40., 60., 60.], [41., 41., 61., 61.],
                    [10., 10., 30., 30.], [200., 200., 210., 210.]])
  scores = jnp.array([0.9, 0.8, 0.7, 0.6, 0.5])
  m = jax.jit(lambda *a: coco.coco_match(*a, max_dets=4))(
      dets, scores, jnp.zeros(5, jnp.int32), jnp.ones(5, bool), gts, jnp.zeros(3, jnp.int32),
      jnp.ones(3, bool), jnp.array([True, False, False]))
  all_area, small, t50 = 0, 1, 0
  # The best det takes the real large box (IoU 1), not the equally good crowd region.
  # Dets 1 and 2 lie inside the crowd region (IoU = inter / det area = 1): both absorbed, ignored.
  np.testing.assert_array_equal(m.det_matched[all_area, t50], [True, True, True, True, False])
  np.testing.assert_array_equal(m.det_ignored[all_area, t50], [False, True, True, False, False])
  # Det 4 is 5th by score, beyond max_dets = 4: never evaluated.
  np.testing.assert_array_equal(m.det_rank, [0, 1, 2, 3, 4])
  # In the 'small' range the large gt is ignored, so is the unmatched large det... except that
  # det 0 still matches (an ignored match), hence ignored too; the small hit counts.
  np.testing.assert_array_equal(m.gt_ignored[small], [True, False, True])
  np.testing.assert_array_equal(m.det_ignored[small, t50], [True, True, True, False, False])


def reference_voc_eval(images, k, use_07_metric, threshold=0.5):
  """The VOC devkit's voc_eval loop (py-faster-rcnn), continuous IoU, crowd = difficult."""
  recs, npos = [], 0
  for im in images:
    labels = np.asarray(im['gt_labels'], int)
    sel = labels == k
    bbox = np.asarray(im['gt_boxes'], np.float32).reshape(-1, 4)[sel]
    difficult = np.asarray(im['gt_crowd'], bool)[sel]
    npos += int(np.sum(~difficult))
    recs.append(dict(bbox=bbox, difficult=difficult, det=[False] * len(bbox)))
  image_ids, confidence, boxes = [], [], []
  for i, im in enumerate(images):
    for box, label, score in zip(im['det_boxes'], im['det_labels'], im['det_scores']):
      if label == k:
        image_ids.append(i)
        confidence.append(score)
        boxes.append(box)
  if npos == 0:
    return float('nan')
  order = np.argsort(-np.asarray(confidence), kind='stable')
  tp, fp = np.zeros(len(order)), np.zeros(len(order))
  for d, idx in enumerate(order):
    r, bb = recs[image_ids[idx]], np.asarray(boxes[idx], np.float32)
    ovmax, gt = -np.inf, r['bbox']
    if gt.size > 0:
      iw = np.maximum(np.minimum(gt[:, 2], bb[2]) - np.maximum(gt[:, 0], bb[0]), 0)
      ih = np.maximum(np.minimum(gt[:, 3], bb[3]) - np.maximum(gt[:, 1], bb[1]), 0)
      inters = iw * ih
      uni = (bb[2] - bb[0]) * (bb[3] - bb[1]) + (gt[:, 2] - gt[:, 0]) * (gt[:, 3] - gt[:, 1]) - inters
      overlaps = inters / uni
      ovmax, jmax = np.max(overlaps), np.argmax(overlaps)
    if ovmax > threshold:
      if not r['difficult'][jmax]:
        if not r['det'][jmax]:
          tp[d], r['det'][jmax] = 1, True
        else:
          fp[d] = 1
    else:
      fp[d] = 1
  tp, fp = np.cumsum(tp), np.cumsum(fp)
  rec, prec = tp / npos, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
  if use_07_metric:
    return sum((np.max(prec[rec >= t]) if np.sum(rec >= t) else 0) / 11
               for t in np.arange(0.0, 1.1, 0.1))
  mrec, mpre = np.concatenate(([0.], rec, [1.])), np.concatenate(([0.], prec, [0.]))
  for i in range(mpre.size - 1, 0, -1):
    mpre[i - 1] = max(mpre[i - 1], mpre[i])
  i = np.where(mrec[1:] != mrec[:-1])[0]
  return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


@pytest.mark.parametrize('use_07_metric', [False, True])
def test_voc_equals_devkit_reference(use_07_metric):
  for data in FIXTURE.values():
    ev = detection.VocEvaluator(data['num_classes'], use_07_metric=use_07_metric)
    for b in padded_batches(data['images']):
      b['gt_difficult'] = b.pop('gt_crowd')
      del b['gt_area']
      ev.update(**b)
    got = ev.result()
    want = [reference_voc_eval(data['images'], k, use_07_metric) for k in range(data['num_classes'])]
    np.testing.assert_allclose(got['AP'], want, atol=1e-12)  # NaN where a class has no gt
    assert np.isnan(got['AP'][-1])  # the fixture's last class never has ground truth
    np.testing.assert_allclose(got['mAP'], np.nanmean(want), atol=1e-12)
