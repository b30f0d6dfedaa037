"""Detection metrics: Pascal VOC AP (VOC07 11-point, VOC2010+ area) and COCO AP.

Average precision summarises a class's precision-recall curve, detections taken by decreasing
score over the whole dataset:

    precision = TP / (TP + FP),   recall = TP / (number of non-difficult ground truths)

- VOC2007 11-point: AP = 1/11 * sum_{r in 0, 0.1, ..., 1} max_{recall >= r} precision.
- VOC2010+: AP = area under the precision envelope p(r) = max_{r' >= r} precision(r'),
  summed exactly over the recall steps.
- COCO: `cnn_jax.metrics.coco` (10 IoU thresholds, 101 recall points, maxDets, areas, crowd),
  equal to pycocotools; import `CocoEvaluator` and `coco_match` from there.

VOC matching (the devkit's voc_eval): per image and class, detections by decreasing score take
the ground truth of highest IoU (first among ties); IoU > 0.5 on an unclaimed one is a TP, on
an already-claimed one a FP (a duplicate), on a 'difficult' one neither; IoU <= 0.5 is a FP.
The mean AP is over the classes that have ground truth. Differences from the devkit, stated:
IoU uses continuous pixel coordinates (no "+1" on widths), and score ties are broken by image
order then input order (the devkit's quicksort leaves them unspecified).

`voc_match` runs on one image in JAX (static shapes, jit/vmap); `VocEvaluator` runs it per
batch and accumulates on the host in float64 numpy.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops import boxes as box_ops


class VocMatches(NamedTuple):
  """Per-image `voc_match` result, in input detection order."""
  tp: jax.Array  # [D] bool
  fp: jax.Array  # [D] bool (a detection that is neither matched a 'difficult' object)


def voc_match(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
              gt_difficult=None, iou_threshold: float = 0.5) -> VocMatches:
  """VOC's greedy matching for one image (module docstring).

  Args:
    det_boxes `[D, 4]` xyxy, det_scores `[D]`, det_labels `[D]` int, det_valid `[D]` bool;
    gt_boxes `[G, 4]`, gt_labels `[G]`, gt_valid `[G]`, gt_difficult `[G]` bool (default none).
    iou_threshold: a hit needs IoU > this.
  """
  det_scores = jnp.asarray(det_scores)
  num_g = gt_boxes.shape[0] if hasattr(gt_boxes, 'shape') else len(gt_boxes)
  difficult = (jnp.zeros(num_g, bool) if gt_difficult is None
               else jnp.asarray(gt_difficult, bool))
  valid = jnp.asarray(det_valid, bool) & ~jnp.isnan(det_scores)
  order = jnp.argsort(jnp.where(valid, det_scores, -jnp.inf), descending=True, stable=True)
  iou = box_ops.box_iou(jnp.asarray(det_boxes)[order], jnp.asarray(gt_boxes))
  same = jnp.asarray(det_labels)[order][:, None] == jnp.asarray(gt_labels)[None, :]
  iou = jnp.where(same & jnp.asarray(gt_valid, bool)[None, :], iou, -jnp.inf)
  valid = valid[order]

  def step(claimed, i):
    j = jnp.argmax(iou[i])  # np.argmax: the first of equal maxima
    hit = valid[i] & (iou[i, j] > iou_threshold)
    tp = hit & ~difficult[j] & ~claimed[j]
    fp = valid[i] & ~(hit & difficult[j]) & ~tp
    return claimed.at[j].set(claimed[j] | tp), (tp, fp)

  _, (tp, fp) = jax.lax.scan(step, jnp.zeros(num_g, bool), jnp.arange(order.shape[0]))
  inverse = jnp.argsort(order)
  return VocMatches(tp[inverse], fp[inverse])


@jax.jit
def _batched_voc_match(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels,
                       gt_valid, gt_difficult, iou_threshold):
  return jax.vmap(voc_match, in_axes=(0,) * 8 + (None,))(
      det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
      gt_difficult, iou_threshold)


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False) -> float:
  """AP of one class from its cumulative recall and precision `[N]` (float64 numpy).

  VOC07: mean over r in {0, 0.1, ..., 1} of max(precision[recall >= r]) (0 if none).
  VOC2010+: sum over recall steps of (r_{i+1} - r_i) * envelope(r_{i+1}), with the curve
  closed at recall 0 and 1 by precision 0.
  """
  if use_07_metric:
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):  # the devkit's thresholds, float quirks included
      p = np.max(precision[recall >= t]) if np.any(recall >= t) else 0.0
      ap += p / 11.0
    return float(ap)
  mrec = np.concatenate(([0.0], recall, [1.0]))
  mpre = np.concatenate(([0.0], precision, [0.0]))
  mpre = np.maximum.accumulate(mpre[::-1])[::-1]
  i = np.where(mrec[1:] != mrec[:-1])[0]
  return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


class VocEvaluator:
  """Accumulates Pascal VOC AP over batches of images.

      ev = VocEvaluator(num_classes=20, use_07_metric=True)
      ev.update(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
                gt_difficult)   # leading [B] axis on each
      ev.result()  # {'mAP': ..., 'AP': [K] (NaN for classes without ground truth)}
  """

  def __init__(self, num_classes: int, iou_threshold: float = 0.5, use_07_metric: bool = False):
    self.num_classes = num_classes
    self.iou_threshold = iou_threshold
    self.use_07_metric = use_07_metric
    self._rows = []  # (label, score, tp, fp) per batch
    self._npos = np.zeros(num_classes, np.int64)

  def update(self, det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
             gt_difficult=None) -> None:
    """Adds a batch of images: the arguments of `voc_match` with a leading `[B]` axis."""
    gt_valid = np.asarray(gt_valid, bool)
    difficult = np.zeros(gt_valid.shape, bool) if gt_difficult is None else np.asarray(
        gt_difficult, bool)
    m = jax.device_get(_batched_voc_match(det_boxes, det_scores, det_labels, det_valid,
                                          gt_boxes, gt_labels, gt_valid, difficult,
                                          np.float32(self.iou_threshold)))
    valid = np.asarray(det_valid, bool)
    self._rows.append((np.asarray(det_labels)[valid], np.asarray(det_scores, np.float64)[valid],
                       m.tp[valid], m.fp[valid]))
    counted = gt_valid & ~difficult
    self._npos += np.bincount(np.asarray(gt_labels)[counted], minlength=self.num_classes)

  def result(self) -> dict:
    """{'mAP': mean over the classes with ground truth, 'AP': `[K]` (NaN: no ground truth)}."""
    if self._rows:
      label, score, tp, fp = (np.concatenate(x) for x in zip(*self._rows))
    else:
      label = score = tp = fp = np.zeros(0)
    ap = np.full(self.num_classes, np.nan)
    for k in range(self.num_classes):
      if self._npos[k] == 0:
        continue
      rows = np.nonzero(label == k)[0]
      rows = rows[np.argsort(-score[rows], kind='mergesort')]
      tp_sum = np.cumsum(tp[rows]).astype(np.float64)
      fp_sum = np.cumsum(fp[rows]).astype(np.float64)
      recall = tp_sum / self._npos[k]
      precision = tp_sum / np.maximum(tp_sum + fp_sum, np.finfo(np.float64).eps)
      ap[k] = voc_ap(recall, precision, self.use_07_metric)
    defined = ~np.isnan(ap)
    return {'mAP': float(np.mean(ap[defined])) if defined.any() else float('nan'), 'AP': ap}
