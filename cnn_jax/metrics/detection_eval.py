"""One host-side accumulator for a detector's evaluation: COCO AP (pycocotools' numbers) and
VOC AP50 over the same padded detections, for `train.evaluate.accumulate`.

    acc = DetectionAccumulator(num_classes=10)
    acc.update(outputs, targets)   # outputs: {'boxes' [B, D, 4], 'scores', 'labels', 'valid'}
                                   # targets: {'boxes' [B, N, 4], 'labels', 'boxes_valid', 'mask'}
    acc.result()  # {'AP', 'AP50', 'AP75', ... (coco.STAT_NAMES), 'voc_AP50', 'AP50_per_class' [C], ...}

Rows whose eval padding mask is 0 are skipped, so every image counts exactly once.
"""
import numpy as np

from cnn_jax.metrics.coco import STAT_NAMES, CocoEvaluator
from cnn_jax.metrics.detection import VocEvaluator


class DetectionAccumulator:
  """COCO + VOC accumulators fed with the same batches (module docstring)."""

  def __init__(self, num_classes: int):
    self.num_classes = num_classes
    self.coco = CocoEvaluator(num_classes)
    self.voc = VocEvaluator(num_classes, iou_threshold=0.5)

  def update(self, outputs: dict, targets: dict) -> None:
    real = np.asarray(targets.get('mask', np.ones(len(targets['labels']))), bool)
    if not real.any():
      return
    det = [np.asarray(outputs[k])[real] for k in ('boxes', 'scores', 'labels', 'valid')]
    gt = [np.asarray(targets[k])[real] for k in ('boxes', 'labels', 'boxes_valid')]
    gt[1] = np.where(gt[2], gt[1], 0)  # padding labels are never read; keep them in range
    self.coco.update(*det, *gt)
    self.voc.update(*det, *gt)

  def result(self) -> dict:
    coco = self.coco.result()
    voc = self.voc.result()
    precision = coco['precision']  # [T, R, K, A, M]
    ap50 = precision[0, :, :, 0, -1]
    per_class = np.where((ap50 > -1).any(0), np.where(ap50 > -1, ap50, 0).mean(0), np.nan)
    out = {k: float(coco[k]) for k in STAT_NAMES}
    return {**out, 'voc_AP50': voc['mAP'], 'AP50_per_class': per_class,
            'voc_AP50_per_class': voc['AP'], 'pr_precision': precision[0, :, :, 0, -1],
            'pr_recall': np.asarray(self.coco.recall_thresholds)}
