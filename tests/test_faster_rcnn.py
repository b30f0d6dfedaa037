"""Faster R-CNN: RPN pure parts, RoI-head post-processing, losses, and parity with torchvision.

References: hand-computed cases, and tests/fixtures/faster_rcnn_torchvision.npz made by
tests/fixtures/make_faster_rcnn.py (torchvision's FasterRCNN in eval mode, same weights).
"""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses.faster_rcnn import fastrcnn_loss, faster_rcnn_losses
from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.ops import roi_heads, rpn
from cnn_jax.weights.faster_rcnn import from_torchvision

FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'faster_rcnn_torchvision.npz'


def test_match_thresholds_low_quality_and_padding():
  iou = jnp.array([[0.8, 0.5, 0.2, 0.1, 0.0],
                   [0.1, 0.6, 0.25, 0.0, 0.0]])
  # anchor 1 is between (0.6) but gt 1's best: restored; 2-4 below 0.3.
  np.testing.assert_array_equal(rpn.match(iou, 0.7, 0.3, True), [0, 1, -1, -1, -1])
  np.testing.assert_array_equal(rpn.match(iou, 0.7, 0.3, False), [0, -2, -1, -1, -1])
  # gt 1 padding: anchor 1's best is gt 0 at 0.5 (between); gt 0's best anchor is 0.
  np.testing.assert_array_equal(rpn.match(iou, 0.7, 0.3, True, jnp.array([True, False])),
                                [0, -2, -1, -1, -1])
  np.testing.assert_array_equal(rpn.match(iou, 0.7, 0.3, True, jnp.array([False, False])),
                                [-1] * 5)


def test_balanced_sample_counts_and_static_shapes():
  labels = jnp.concatenate([jnp.ones(10, jnp.int32), jnp.zeros(300, jnp.int32),
                            -jnp.ones(5, jnp.int32)])
  sample = jax.jit(rpn.balanced_sample, static_argnums=(2, 3))
  pos, neg = sample(jax.random.key(0), labels, 256, 0.5)
  assert pos.shape == neg.shape == labels.shape
  assert int(pos.sum()) == 10 and int(neg.sum()) == 246       # fg scarce: bg fills up
  assert not bool(jnp.any(pos & (labels != 1))) and not bool(jnp.any(neg & (labels != 0)))
  many = jnp.where(jnp.arange(315) < 200, 1, labels)
  pos2, neg2 = sample(jax.random.key(0), many, 256, 0.5)
  assert int(pos2.sum()) == 128 and int(neg2.sum()) == 110    # at most half; all 110 bg
  pos3, _ = sample(jax.random.key(1), many, 256, 0.5)
  assert bool(jnp.any(pos3 != pos2))                          # the key draws the subset
  idx, ok = rpn.sampled_indices(pos2, neg2, 256)
  assert int(ok.sum()) == 238 and bool(jnp.all(pos2[idx[:128]]))


def test_proposals_clip_small_nms_and_levels():
  anchors = jnp.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [-5, -5, 5, 5.]])
  logits, deltas = jnp.array([3.0, 2.0, 1.0, 0.0]), jnp.zeros((4, 4))
  p = rpn.proposals(logits, deltas, anchors, [4], (40, 40), 10, 4)
  # IoU(a0, a1) = 81 / 119 < 0.7 keeps both; a2 clips to an empty box; a3 clips to (0,0,5,5).
  np.testing.assert_allclose(p.boxes, [[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 5, 5], [0] * 4])
  np.testing.assert_allclose(p.scores, [*jax.nn.sigmoid(jnp.array([3.0, 2.0, 0.0])), 0],
                             rtol=1e-6)
  np.testing.assert_array_equal(p.valid, [True, True, True, False])
  # Two levels, top-1 each: a0 (level 0) and a2 (level 1, removed as empty).
  p2 = rpn.proposals(logits, deltas, anchors, [2, 2], (40, 40), 1, 2)
  np.testing.assert_array_equal(p2.valid, [True, False])
  with pytest.raises(ValueError, match='level_sizes'):
    rpn.proposals(logits, deltas, anchors, [3], (40, 40), 1, 2)


def test_postprocess_per_class_threshold_and_padding():
  props = jnp.array([[10, 10, 30, 30], [12, 10, 32, 30], [0, 0, 8, 8.]])
  valid = jnp.array([True, True, False])
  logits = jnp.log(jnp.array([[0.2, 0.5, 0.3, 0.0], [0.1, 0.6, 0.04, 0.26],
                              [0.0, 0.0, 0.0, 1.0]]) + 1e-12)
  det = roi_heads.postprocess_detections(logits, jnp.zeros((3, 16)), props, valid, (40, 40),
                                         detections_per_img=5)
  # class 1: both proposals (IoU 360/440 > 0.5) -> the 0.6 one; class 2: 0.3 (0.04 < 0.05);
  # class 3: 0.26; proposal 2 is padding.
  np.testing.assert_allclose(det.scores, [0.6, 0.3, 0.26, 0, 0], rtol=1e-5)
  np.testing.assert_array_equal(det.labels, [1, 2, 3, 0, 0])
  np.testing.assert_allclose(det.boxes[:3], [[12, 10, 32, 30], [10, 10, 30, 30],
                                             [12, 10, 32, 30]], atol=1e-5)


def _tiny():
  return FasterRCNN(num_classes=4, backbone_channels=(8, 16, 16, 16), anchor_sizes=(32.0, 64.0),
                    rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50,
                    rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50,
                    box_batch_size_per_image=64, representation_size=32)


def test_equals_torchvision_faster_rcnn_eval():
  f = np.load(FIXTURE)
  sd = {k[3:]: f[k] for k in f.files if k.startswith('sd/')}
  variables = from_torchvision(sd)
  x = jnp.asarray(f['images'], jnp.float32) / 255
  out = jax.jit(_tiny().apply)(variables, x)
  for i in range(x.shape[0]):
    n, d = int(f['proposal_counts'][i]), int(f['counts'][i])
    assert int(out['proposal_valid'][i].sum()) == n and int(out['valid'][i].sum()) == d
    np.testing.assert_allclose(out['proposals'][i, :n], f['proposals'][i, :n], atol=1e-4)
    np.testing.assert_array_equal(out['labels'][i, :d], f['labels'][i, :d])
    np.testing.assert_allclose(out['boxes'][i, :d], f['boxes'][i, :d], atol=1e-4)
    np.testing.assert_allclose(out['scores'][i, :d], f['scores'][i, :d], atol=1e-4)
  del sd['roi_heads.box_head.fc7.bias']
  with pytest.raises(KeyError, match='fc7.bias.*keys are'):
    from_torchvision(sd)


@pytest.mark.slow
def test_training_losses_with_and_without_ground_truth():
  model = _tiny()
  x = jax.random.uniform(jax.random.key(0), (2, 64, 64, 3))
  variables = model.init(jax.random.key(1), x)
  boxes = jnp.array([[[5, 5, 30, 30], [20, 20, 60, 50.]], [[0, 0, 0, 0], [0, 0, 0, 0.]]])
  labels = jnp.array([[1, 2], [0, 0]])
  gt_valid = jnp.array([[True, True], [False, False]])   # image 1: no ground truth at all

  def total(v, valid):
    out = model.apply(v, x, targets=(boxes, labels, valid), key=jax.random.key(2))
    losses = faster_rcnn_losses(out)
    return sum(losses.values()), losses

  step = jax.jit(jax.value_and_grad(total, has_aux=True))
  (_, losses), grads = step(variables, gt_valid)
  assert all(np.isfinite(float(v)) and float(v) > 0 for v in losses.values()), losses
  assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
  (_, empty), grads = step(variables, jnp.zeros_like(gt_valid))
  # All background: no box terms, objectness and classification still train.
  assert float(empty['rpn_box']) == 0 and float(empty['box_reg']) == 0
  assert float(empty['rpn_objectness']) > 0 and float(empty['classifier']) > 0
  assert float(jnp.abs(grads['params']['rpn_head']['cls_logits']['kernel']).sum()) > 0


def test_bad_image_size():
  with pytest.raises(ValueError, match='multiples of size_divisible=32'):
    _tiny().init(jax.random.key(0), jnp.zeros((1, 48, 64, 3)))
  with pytest.raises(ValueError, match='multiples of size_divisible=32'):
    _tiny().init(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))


@pytest.mark.slow
def test_task_smoke_run_writes_metrics_and_pictures(tmp_path):
  import json
  from conftest import load_config
  from cnn_jax.tasks import faster_rcnn as task
  config = load_config('faster_rcnn_canvas')
  result = task.run(config, str(tmp_path))
  assert int(result.state.step) == config.train.steps
  for key in ('AP', 'AP50', 'AP75', 'voc_AP50'):
    assert 0.0 <= result.eval[key] <= 1.0
  records = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert any('train/rpn_objectness' in r for r in records)
  assert any('eval/AP50' in r for r in records)
  for png in ('proposals.png', 'detections.png'):
    assert (tmp_path / png).exists()


def test_matcher_and_fastrcnn_loss_equal_torchvision():
  f = np.load(FIXTURE)
  iou = jnp.asarray(f['match_iou'])
  np.testing.assert_array_equal(rpn.match(iou, 0.7, 0.3, True), f['match_rpn'])
  np.testing.assert_array_equal(rpn.match(iou, 0.5, 0.5, False), f['match_box'])
  cls, box = fastrcnn_loss(jnp.asarray(f['loss_logits']), jnp.asarray(f['loss_regression']),
                           jnp.asarray(f['loss_labels']), jnp.asarray(f['loss_targets']),
                           jnp.ones(f['loss_labels'].shape, bool))
  np.testing.assert_allclose([cls, box], f['loss_values'], rtol=1e-5)


def test_zoo_backbone_headless_under_backbone_and_bad_stage():
  from cnn_jax import models
  model = models.create('faster_rcnn', num_classes=11, backbone='mobilenet_v2',
                        representation_size=16)
  shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
  assert 'features' in shapes['params']['backbone'] and 'backbone' in shapes['batch_stats']
  assert 'classifier' not in shapes['params']['backbone']      # headless
  # MobileNetV2's stage3 (stride 16) has 96 channels; 3 sizes x 3 ratios = 9 anchors.
  assert shapes['params']['rpn_head']['cls_logits']['kernel'].shape == (1, 1, 96, 9)
  bad = models.create('faster_rcnn', backbone='mobilenet_v2', backbone_stage='stage9')
  with pytest.raises(ValueError, match="backbone_stage: 'stage9' not in"):
    jax.eval_shape(bad.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))


def test_no_and_degenerate_ground_truth_train_as_background():
  anchors = jnp.array([[0, 0, 16, 16], [8, 8, 24, 24], [30, 30, 46, 46], [0, 20, 8, 40.]])
  real = jnp.array([[1, 1, 15, 15.]])
  flat = jnp.array([[5, 5, 5, 20.]])                 # zero width: x2 == x1
  # One real box: anchor 0 (IoU 196/256 >= 0.7) is foreground, 2 and 3 (IoU 0) background.
  targets = jax.jit(rpn.rpn_targets, static_argnums=(4, 5))   # one compile (G = 1)
  labels, sampled, deltas = targets(jax.random.key(0), anchors, real, jnp.array([True]), 4, 0.5)
  np.testing.assert_array_equal(labels, [1, 0, 0, 0])
  # No valid row, or a valid but degenerate one: every anchor is background (IoU 0 with a
  # zero-area box would otherwise make every anchor its low-quality match, target log 0).
  for gt, ok in ((real, jnp.array([False])), (flat, jnp.array([True]))):
    labels, sampled, deltas = targets(jax.random.key(0), anchors, gt, ok, 4, 0.5)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0])
    assert int(sampled.sum()) == 4 and bool(jnp.all(jnp.isfinite(deltas)))
  props, pvalid = anchors, jnp.array([True, True, True, False])
  s = jax.jit(roi_heads.sample_proposals, static_argnums=(6, 7))(
      jax.random.key(1), props, pvalid, flat, jnp.ones((1,), jnp.int32), jnp.array([True]), 8,
      0.25)
  # The 3 valid proposals, all class 0; the degenerate ground truth is not a candidate.
  assert int(s.valid.sum()) == 3 and not bool(jnp.any(s.labels[s.valid] != 0))
  assert bool(jnp.all(jnp.isfinite(s.targets)))
  assert float(rpn.usable_gt(jnp.concatenate([real, flat]), jnp.array([True, True])).sum()) == 1


@pytest.mark.slow
def test_bench_smoke_times_proposals_inference_and_train_step():
  from conftest import load_config
  from cnn_jax.tasks import benchmark
  report = benchmark.run(load_config('bench_faster_rcnn'))
  names = [r.name for r in report.results]
  assert any(n.startswith('rpn proposals') for n in names), names
  assert any('inference' in n for n in names) and any('train step' in n for n in names)
  assert all(r.median_s > 0 and r.compile_s is not None for r in report.results)


@pytest.mark.slow
def test_mobilenet_config_loads_imagenet_backbone():
  """faster_rcnn_canvas_mobilenet: init_from='imagenet' puts the real MobileNetV2 weights
  (headless, batch statistics included) under 'backbone'; the RPN sits on stage2 (32 ch)."""
  from conftest import load_config
  from cnn_jax import weights
  from cnn_jax.tasks import _supervised
  from cnn_jax.tasks.faster_rcnn import FasterRCNNTask
  config = load_config('faster_rcnn_canvas_mobilenet')
  task = FasterRCNNTask(config)

  class Data:
    num_classes = 10
  model = task.build_model(Data())
  variables = _supervised.init_variables(config, model, (64, 64, 3), jax.random.key(0),
                                         lambda s: task.pretrained_variables(model, s))
  ref = weights.load('mobilenet_v2', 'imagenet', include_head=False)
  np.testing.assert_array_equal(
      np.asarray(variables['params']['backbone']['features']['0']['0']['kernel']),
      np.asarray(ref['params']['features']['0']['0']['kernel']))
  np.testing.assert_array_equal(   # block 6's projection BN: the last block of stage2
      np.asarray(variables['batch_stats']['backbone']['features']['6']['conv']['3']['mean']),
      np.asarray(ref['batch_stats']['features']['6']['conv']['3']['mean']))
  assert variables['params']['rpn_head']['cls_logits']['kernel'].shape == (1, 1, 32, 9)
