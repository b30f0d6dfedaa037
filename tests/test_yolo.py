"""YOLO: anchors by k-means (1 - IoU), targets and their collision rule, each loss term on
hand-built cases, decoding + per-class NMS against a plain numpy reference, the task's smoke run."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config
from cnn_jax.losses import yolo as yolo_losses
from cnn_jax.losses.yolo import YoloLossConfig

# One compile per shape instead of op-by-op dispatch (the hand cases call these many times).
yolo_loss_terms = jax.jit(yolo_losses.yolo_loss_terms, static_argnums=(5, 6, 7))
yolo_loss = jax.jit(yolo_losses.yolo_loss, static_argnums=(5, 6, 7))
from cnn_jax.metrics.detection_eval import DetectionAccumulator
from cnn_jax.ops import anchor_kmeans, yolo


def np_wh_iou(a, b):
  inter = np.minimum(a[:, None, 0], b[None, :, 0]) * np.minimum(a[:, None, 1], b[None, :, 1])
  return inter / (a[:, None].prod(-1) + b[None, :].prod(-1) - inter)


def test_kmeans_finds_three_shape_clusters_and_reports_mean_iou():
  rng = np.random.default_rng(0)
  centres = np.array([[6., 14.], [20., 20.], [40., 12.]])
  wh = np.concatenate([c * rng.uniform(0.95, 1.05, (60, 2)) for c in centres]).astype(np.float32)
  wh = np.concatenate([wh, np.zeros((5, 2), np.float32)])     # padding rows
  valid = np.arange(len(wh)) < 180
  r = anchor_kmeans.kmeans_anchors(jnp.asarray(wh), 3, jax.random.key(0), 20, jnp.asarray(valid))
  order = np.argsort(centres.prod(1))
  np.testing.assert_allclose(np.asarray(r.anchors), centres[order], rtol=0.03)
  iou = np_wh_iou(wh[valid], np.asarray(r.anchors))
  np.testing.assert_allclose(float(r.mean_iou), iou.max(1).mean(), rtol=1e-5)
  np.testing.assert_allclose(np.asarray(anchor_kmeans.wh_iou(jnp.asarray(wh[:7]), r.anchors)),
                             np_wh_iou(wh[:7], np.asarray(r.anchors)), rtol=1e-6)
  # Best possible recall (YOLOv5's ratio rule): a 4x larger box is out of reach.
  far = jnp.asarray([[6., 14.], [200., 200.]])
  assert float(anchor_kmeans.best_possible_recall(far, r.anchors)) == 0.5


def test_targets_cell_anchor_offsets_and_collision_rule():
  anchors = jnp.array([[8., 8.], [16., 32.]])
  boxes = jnp.array([[0, 0, 8, 8],        # centre (4, 4): cell (0, 0), anchor 0 (IoU 1)
                     [2, 2, 10, 10],      # same cell and anchor, equal IoU: the lower slot wins
                     [16, 0, 32, 32],     # centre (24, 16): column 3, row 2, anchor 1 (IoU 1)
                     [17, 1, 31, 31],     # same (cell, anchor), lower IoU: displaced
                     [0, 0, 0, 0]], jnp.float32)
  valid = jnp.array([1, 1, 1, 1, 0], bool)
  t = yolo.build_targets(boxes, jnp.array([1, 2, 3, 4, 0]), valid, anchors, (4, 4), 8.0)
  np.testing.assert_array_equal(np.argwhere(np.asarray(t['object'])), [[0, 0, 0], [2, 3, 1]])
  np.testing.assert_array_equal(np.asarray(t['assigned']), [True, False, True, False, False])
  np.testing.assert_allclose(np.asarray(t['offset'][0, 0, 0]), [0.5, 0.5])
  np.testing.assert_allclose(np.asarray(t['offset'][2, 3, 1]), [0.0, 0.0])
  np.testing.assert_allclose(np.asarray(t['log_wh'][2, 3, 1]), [0.0, 0.0], atol=1e-7)
  assert int(t['label'][2, 3, 1]) == 3 and int(t['label'][0, 0, 0]) == 1
  # Swapping the order of the colliding pair: the higher anchor IoU still wins.
  t2 = yolo.build_targets(boxes[jnp.array([3, 2, 0, 1, 4])], jnp.array([4, 3, 1, 2, 0]), valid,
                          anchors, (4, 4), 8.0)
  assert int(t2['label'][2, 3, 1]) == 3 and int(t2['label'][0, 0, 0]) == 1
  rate = yolo.assignment_rate(boxes[None], valid[None], anchors, (4, 4), 8.0)
  assert float(rate) == 0.5


def _raw(grid=(2, 2), a=1, c=3, fill=0.0):
  return jnp.full((*grid, a, 5 + c), fill, jnp.float32)


def test_each_loss_term_on_a_hand_built_case():
  """One 16x16 object in a 2x2 grid of stride 16, one 16x16 anchor, all outputs 0:
  σ(0) = 0.5 everywhere, every predicted box is the anchor centred in its cell."""
  anchors = jnp.array([[16., 16.]])
  boxes = jnp.array([[4., 4., 20., 20.]])             # centre (12, 12): cell (0, 0), offset 0.75
  labels, valid = jnp.array([2]), jnp.array([True])
  cfg = YoloLossConfig(rescore=False, scale_small_boxes=False)
  terms = yolo_loss_terms(_raw(), boxes, labels, valid, anchors, 16.0, (32, 32), cfg)
  # object: (0.5 - 1)^2; coord: 2 (0.5 - 0.75)^2 + 0 (w, h equal the anchor); class: log 3.
  np.testing.assert_allclose(float(terms['object']), 0.25, rtol=1e-6)
  np.testing.assert_allclose(float(terms['coord']), 2 * 0.25 ** 2, rtol=1e-6)
  np.testing.assert_allclose(float(terms['class']), np.log(3.0), rtol=1e-6)
  # no-object: the other 3 cells' boxes (8..24 shifted by 16) overlap the truth by IoU < 0.6.
  np.testing.assert_allclose(float(terms['no_object']), 3 * 0.25, rtol=1e-6)
  # rescore: the target is the IoU of the predicted box [0, 0, 16, 16] with the truth.
  inter, union = 12 * 12, 2 * 256 - 144
  t = yolo_loss_terms(_raw(), boxes, labels, valid, anchors, 16.0, (32, 32),
                      YoloLossConfig(scale_small_boxes=False))
  np.testing.assert_allclose(float(t['object']), (0.5 - inter / union) ** 2, rtol=1e-6)
  # scale_small_boxes weighs coord by 2 - wh / (W H).
  t = yolo_loss_terms(_raw(), boxes, labels, valid, anchors, 16.0, (32, 32),
                      YoloLossConfig(rescore=False))
  np.testing.assert_allclose(float(t['coord']), 2 * 0.25 ** 2 * (2 - 256 / 1024), rtol=1e-6)
  # L2 class loss on the softmax (YAD2K's form): (1/3 - 1)^2 + 2 (1/3)^2.
  t = yolo_loss_terms(_raw(), boxes, labels, valid, anchors, 16.0, (32, 32),
                      YoloLossConfig(class_loss='l2'))
  np.testing.assert_allclose(float(t['class']), (2 / 3) ** 2 + 2 / 9, rtol=1e-6)


def test_no_object_ignore_rule_and_batch_mean():
  """A predictor without an object whose box overlaps a truth by IoU > 0.6 is not punished."""
  anchors = jnp.array([[16., 16.]])
  # The truth [10, 0, 26, 16] has its centre (18, 8) in cell (0, 1). Cell (0, 0)'s box is the
  # anchor [0, 0, 16, 16] (IoU 6 / 26 < 0.6: punished) or, with tx = +50 (σ = 1), the box
  # [8, 0, 24, 16] (IoU 14 / 18 > 0.6: ignored). Cells of row 1 never overlap: punished.
  truth = jnp.array([[10., 0., 26., 16.]])
  for tx, punished in ((0.0, 3), (50.0, 2)):
    raw = _raw().at[0, 0, 0, 0].set(tx)
    t = yolo_loss_terms(raw, truth, jnp.array([0]), jnp.array([True]), anchors, 16.0, (32, 32))
    np.testing.assert_allclose(float(t['no_object']), punished * 0.25, rtol=1e-6)
  raw = _raw()
  # The batch loss is the scaled sum of per-image means (not batch sums).
  b = jnp.array([[[4., 4., 20., 20.]]] * 2)
  loss, terms = yolo_loss(jnp.stack([raw, raw]), b, jnp.array([[2], [2]]), jnp.ones((2, 1), bool),
                          anchors, 16.0, (32, 32), YoloLossConfig(rescore=False,
                                                                  scale_small_boxes=False))
  expect = 5 * 0.25 + 0.75 + 2 * 0.25 ** 2 + np.log(3.0)
  np.testing.assert_allclose(float(loss), expect, rtol=1e-6)
  # Padding slots (valid False) change nothing.
  pad = yolo_loss_terms(raw, jnp.array([[4., 4., 20., 20.], [0., 0., 30., 30.]]),
                        jnp.array([2, 1]), jnp.array([True, False]), anchors, 16.0, (32, 32))
  ref = yolo_loss_terms(raw, b[0], jnp.array([2]), jnp.array([True]), anchors, 16.0, (32, 32))
  for k in ref:
    np.testing.assert_allclose(float(pad[k]), float(ref[k]), rtol=1e-6)


def _np_iou(a, b):
  w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
  h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
  inter = w * h
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _np_postprocess(raw, anchors, stride, size, score_thr, iou_thr, k):
  """Independent reference: decode with numpy, then darknet/torchvision per-class greedy NMS."""
  sh, sw, a, _ = raw.shape
  sig = lambda x: 1 / (1 + np.exp(-x))
  dets = []
  for i in range(sh):
    for j in range(sw):
      for n in range(a):
        r = raw[i, j, n].astype(np.float64)
        cx, cy = (sig(r[0]) + j) * stride, (sig(r[1]) + i) * stride
        w, h = anchors[n][0] * np.exp(r[2]), anchors[n][1] * np.exp(r[3])
        box = np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0,
                      [size[1], size[0], size[1], size[0]])
        p = np.exp(r[5:] - r[5:].max())
        p /= p.sum()
        dets.append((sig(r[4]) * p.max(), int(p.argmax()), box))
  dets = [d for d in dets if d[0] > score_thr]
  dets.sort(key=lambda d: -d[0])
  kept = []
  for d in dets:
    if all(not (k_[1] == d[1] and _np_iou(k_[2], d[2]) > iou_thr) for k_ in kept):
      kept.append(d)
  return kept[:k]


def test_postprocess_equals_numpy_reference_and_keeps_classes_apart():
  rng = np.random.default_rng(1)
  anchors = np.array([[10., 12.], [20., 18.], [30., 34.]], np.float32)
  raw = rng.normal(0, 1.5, (4, 4, 3, 9)).astype(np.float32)
  post = jax.jit(jax.vmap(lambda r: yolo.postprocess(r, jnp.asarray(anchors), 8.0, (32, 32),
                                                     0.3, 0.45, 12)))
  out = jax.device_get(post(jnp.asarray(raw[None])))
  ref = _np_postprocess(raw, anchors, 8.0, (32, 32), 0.3, 0.45, 12)
  n = int(out.valid[0].sum())
  assert n == len(ref) > 3
  np.testing.assert_allclose(out.scores[0, :n], [d[0] for d in ref], rtol=1e-5)
  np.testing.assert_array_equal(out.labels[0, :n], [d[1] for d in ref])
  np.testing.assert_allclose(out.boxes[0, :n], np.stack([d[2] for d in ref]), rtol=1e-4, atol=1e-3)
  assert (out.labels[0, n:] == -1).all() and not out.valid[0, n:].any()
  # Two identical boxes of different classes both survive (YAD2K's issue #96 suppresses one).
  two = np.full((1, 2, 1, 7), -8.0, np.float32)
  two[0, :, 0, :4] = 0.0
  two[0, 0, 0, 4:] = [4.0, 5.0, 0.0]    # cell 0: class 0
  two[0, 1, 0, 4:] = [3.0, 0.0, 5.0]    # cell 1: class 1
  two[0, 1, 0, 0] = -50.0               # pull its centre to the cell's left edge ...
  two[0, 0, 0, 0] = 50.0                # ... and cell 0's to its right edge: the same box
  d = yolo.postprocess(jnp.asarray(two), jnp.array([[8., 8.]]), 8.0, (8, 16), 0.5, 0.5, 4)
  assert int(d.valid.sum()) == 2 and set(np.asarray(d.labels[:2]).tolist()) == {0, 1}
  np.testing.assert_allclose(np.asarray(d.boxes[0]), np.asarray(d.boxes[1]), atol=1e-4)


def test_detection_accumulator_skips_padding_rows():
  boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]]], np.float32)
  det = {'boxes': boxes, 'scores': np.array([[0.9, 0.8]], np.float32),
         'labels': np.array([[0, 1]]), 'valid': np.array([[True, True]])}
  gt = {'boxes': boxes, 'labels': np.array([[0, 1]]), 'boxes_valid': np.array([[True, True]]),
        'mask': np.array([1.0])}
  a = DetectionAccumulator(2)
  a.update(det, gt)
  pad = lambda d: {k: np.concatenate([v, np.zeros_like(v)]) for k, v in d.items()}
  b = DetectionAccumulator(2)
  b.update(pad(det), pad(gt))
  ra, rb = a.result(), b.result()
  assert ra['AP'] == rb['AP'] and ra['voc_AP50'] == rb['voc_AP50']
  np.testing.assert_allclose([ra['AP'], ra['voc_AP50']], 1.0, rtol=1e-12)


@pytest.mark.slow
def test_yolo_smoke_run_writes_anchors_metrics_and_pictures(tmp_path):
  from cnn_jax.tasks import yolo as yolo_task
  config = load_config('yolo_canvas')
  result = yolo_task.run(config, str(tmp_path))
  assert int(result.state.step) == config.train.steps
  for key in ('AP', 'AP50', 'voc_AP50'):
    assert 0.0 <= result.eval[key] <= 1.0
  report = json.loads((tmp_path / 'anchors.json').read_text())
  assert len(report['anchors']) == config.anchors.k and report['stride'] == 8
  assert 0.0 < report['mean_best_iou'] <= 1.0
  records = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert any('train/no_object' in r for r in records) and any('eval/AP50' in r for r in records)
  assert (tmp_path / 'detections.png').exists() and (tmp_path / 'pr_curves.png').exists()
  per_class = json.loads((tmp_path / 'per_class_ap.json').read_text())
  assert len(per_class['AP50']) == len(per_class['class_names']) == 10
  # yolo_predict on that run: a user's image file (a canvas saved as PNG, twice the size).
  from PIL import Image
  from cnn_jax.tasks import yolo_predict
  from cnn_jax.train.workdir import check_and_record_config
  check_and_record_config(str(tmp_path), config.to_dict())   # what launch.py records
  canvas = np.kron(np.eye(48, dtype=np.uint8) * 255, np.ones((2, 2), np.uint8))
  Image.fromarray(canvas).save(tmp_path / 'mine.png')
  predict = load_config('yolo_predict')
  predict.run, predict.images, predict.score_threshold = str(tmp_path), (str(tmp_path / 'mine.png'),), 0.0
  out_dir = tmp_path / 'predict'
  out_dir.mkdir()
  out = yolo_predict.run(predict, str(out_dir))
  dets = json.loads((out_dir / 'detections.json').read_text())
  assert len(dets) == out['count'] > 0 and (out_dir / 'predictions.png').exists()
  for d in dets:   # boxes in the original 96x96 image's pixels
    x, y, w, h = d['bbox']
    assert 0 <= x <= x + w <= 96 and 0 <= y <= y + h <= 96 and d['file_name'].endswith('mine.png')
  # A workdir of another task is refused, naming what it holds.
  (tmp_path / 'other').mkdir()
  (tmp_path / 'other' / 'config.json').write_text(json.dumps({'task': 'segmentation'}))
  predict.run = str(tmp_path / 'other')
  with pytest.raises(ValueError, match="'segmentation' run, not a yolo run"):
    yolo_predict.run(predict, str(out_dir))


def test_bad_inputs_are_refused_with_the_key_to_change(tmp_path):
  from cnn_jax.tasks import yolo as yolo_task
  config = load_config('yolo_canvas')
  config.anchors.boxes = ((10.0,), (3.0,))
  with pytest.raises(ValueError, match='config.anchors.boxes'):
    yolo_task.run(config, str(tmp_path / 'a'))
  config = load_config('yolo_canvas')
  config.data.canvas.size = (44, 44)
  with pytest.raises(ValueError, match='stride 8'):
    yolo_task.run(config, str(tmp_path / 'b'))
  config = load_config('yolo_canvas')
  config.anchors.boxes = ((10.0, 20.0), (3.0,))   # ragged
  with pytest.raises(ValueError, match='config.anchors.boxes'):
    yolo_task.Yolo(config)
  config = load_config('yolo_canvas')
  config.data.canvas.objects = (1, 5)   # 5 objects, 4 padded slots
  with pytest.raises(ValueError, match=r'config.data.canvas: max_boxes=4 < objects\[1\]=5'):
    yolo_task.Yolo(config)
  with pytest.raises(ValueError, match='needs a zoo backbone'):   # no ImageNet DarknetSmall
    yolo_task.Yolo(load_config('yolo_canvas')).pretrained_variables(None, 'imagenet')
  from cnn_jax.data import canvases
  with pytest.raises(ValueError, match='outside'):   # x2 < x1
    canvases.check_boxes(np.array([[[5., 5., 3., 9.]]]), np.array([[True]]), (16, 16), 'test')
  with pytest.raises(ValueError, match='outside'):   # past the right edge
    canvases.check_boxes(np.array([[[5., 5., 17., 9.]]]), np.array([[True]]), (16, 16), 'test')
  # Padding slots are not checked.
  canvases.check_boxes(np.array([[[5., 5., 3., 9.]]]), np.array([[False]]), (16, 16), 'test')
  # yolo_predict pointed at another task's workdir, or at no run at all.
  from cnn_jax.tasks import yolo_predict
  (tmp_path / 'seg').mkdir()
  (tmp_path / 'seg' / 'config.json').write_text(json.dumps({'task': 'segmentation'}))
  with pytest.raises(ValueError, match="'segmentation' run, not a yolo run"):
    yolo_predict.read_run(str(tmp_path / 'seg'))
  with pytest.raises(FileNotFoundError, match='holds no config.json'):
    yolo_predict.read_run(str(tmp_path))


@pytest.mark.slow
def test_pretrained_mobilenet_backbone_loads_under_backbone(tmp_path):
  """init_from='imagenet' puts the real MobileNetV2 weights (headless) under 'backbone'."""
  from cnn_jax import weights
  from cnn_jax.tasks import _supervised
  from cnn_jax.tasks import yolo as yolo_task
  config = load_config('yolo_canvas_mobilenet')
  task = yolo_task.Yolo(config)
  task.anchors = np.array([[10., 10.], [20., 20.]], np.float32)
  from cnn_jax.models.yolo import YOLO
  model = YOLO(num_classes=10, num_anchors=2, backbone='mobilenet_v2', head_width=8)
  assert model.stride() == 16
  variables = _supervised.init_variables(config, model, (32, 32, 3), jax.random.key(0),
                                         lambda s: task.pretrained_variables(model, s))
  ref = weights.load('mobilenet_v2', 'imagenet', include_head=False)
  np.testing.assert_array_equal(
      np.asarray(variables['params']['backbone']['features']['0']['0']['kernel']),
      np.asarray(ref['params']['features']['0']['0']['kernel']))
  np.testing.assert_array_equal(
      np.asarray(variables['batch_stats']['backbone']['features']['18']['1']['mean']),
      np.asarray(ref['batch_stats']['features']['18']['1']['mean']))
  assert variables['params']['predict']['kernel'].shape[-1] == 2 * 15


def test_detection_batch_by_hand():
  """canvases.detection_batch (the tasks' prepare): /255, gray -> RGB, empty-slot labels -> 0."""
  from cnn_jax.data import canvases
  ex = {'image': np.array([[[[0], [255]], [[51], [102]]]], np.uint8),
        'boxes': np.array([[[0, 0, 1, 2], [0, 0, 0, 0]]], np.float64),
        'labels': np.array([[7, -1]], np.int64), 'valid': np.array([[True, False]])}
  out = canvases.detection_batch(ex, channels=3)
  assert out['image'].shape == (1, 2, 2, 3) and out['image'].dtype == np.float32
  np.testing.assert_allclose(out['image'][0, :, :, 2], [[0.0, 1.0], [0.2, 0.4]], rtol=1e-7)
  assert out['boxes'].dtype == np.float32 and out['labels'].dtype == np.int32
  np.testing.assert_array_equal(out['labels'], [[7, 0]])
  np.testing.assert_array_equal(out['boxes_valid'], [[True, False]])
  assert canvases.detection_batch(ex, channels=1)['image'].shape == (1, 2, 2, 1)


@pytest.mark.parametrize('iou, k, score, top', [(0.5, 200, 0.005, None), (0.3, 7, 0.5, 60)])
def test_top_k_per_class_nms_equals_batched_nms(iou, k, score, top):
  """The early-exit scan = ops.nms.batched_nms (torchvision's semantics) + [:k], vmapped over
  8 images with score ties, NaN scores, degenerate boxes and a pre-NMS top-k."""
  from cnn_jax.ops import nms as nms_ops
  rng = np.random.default_rng(3)
  xy = rng.uniform(0, 50, (8, 200, 2))
  b = np.concatenate([xy, xy + rng.uniform(-2, 20, (8, 200, 2))], -1).astype(np.float32)
  s = rng.choice([0.1, 0.3, 0.5, 0.7, 0.9], (8, 200)).astype(np.float32)
  s[:, ::37] = np.nan
  lb = rng.integers(0, 3, (8, 200)).astype(np.int32)
  mine = jax.jit(jax.vmap(lambda b, s, l: yolo.top_k_per_class_nms(b, s, l, iou, k, score, top)))
  ref = jax.jit(jax.vmap(lambda b, s, l: nms_ops.batched_nms(
      b, s, l, iou, k, score_threshold=score, pre_nms_top_k=top).indices))
  got, want = np.asarray(mine(b, s, lb)), np.asarray(ref(b, s, lb))
  np.testing.assert_array_equal(got, want)
  # k = 200: NaN scores leave padding; k = 7: every image is cut at k.
  assert (want >= 0).sum() > 8 and (want == -1).any() == (k == 200)
