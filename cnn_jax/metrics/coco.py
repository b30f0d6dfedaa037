"""COCO box AP/AR, equal to pycocotools' COCOeval (iouType='bbox') on the same detections.

COCO's AP averages, over 10 IoU thresholds t in .50:.05:.95 and over the classes, the
interpolated precision at 101 recall levels r in 0:.01:1:

    AP = mean_{t, class} mean_r p_interp(r),   p_interp(r) = max_{r' >= r} precision(r')

with at most `maxDets` detections per image and class (1, 10, 100), and per object-area range
(all, small < 32², 32² <= medium <= 96², large > 96²). AR is the recall reached, averaged the
same way. The 12 numbers `stats` are pycocotools' summarize() order: AP, AP50, AP75,
AP_small, AP_medium, AP_large, AR1, AR10, AR100, AR_small, AR_medium, AR_large.

Matching (greedy, per image and class, detections by decreasing score, ties by input order):
a detection takes the unmatched ground truth with the highest IoU >= t (ties: the later one),
preferring real ones over ignored ones; crowd boxes (`iscrowd`) are ignored, may absorb any
number of detections, and their IoU is area(det ∩ crowd) / area(det). Ground truths outside
the area range are ignored; so are detections matched to an ignored one, and unmatched
detections outside the range. Ignored objects count neither as hits nor as misses.

Split of work: `coco_match` (one image, static shapes, jittable and vmappable) does the
matching in JAX; `CocoEvaluator` runs it batch by batch and accumulates on the host in float64
numpy, because pycocotools' recall thresholds (e.g. 0.35000000000000003) and its
`tp / (tp + fp + eps)` are float64 and a float32 comparison can move a precision point.
Known limit: IoUs are float32, so an IoU within ~1e-7 of a threshold may match differently.
"""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops import boxes as box_ops

# pycocotools' Params.setDetParams, verbatim (np.linspace, not arange, as pycocotools says).
IOU_THRESHOLDS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RANGES = ((0 ** 2, 1e5 ** 2), (0 ** 2, 32 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2))
AREA_NAMES = ('all', 'small', 'medium', 'large')
STAT_NAMES = ('AP', 'AP50', 'AP75', 'AP_small', 'AP_medium', 'AP_large',
              'AR1', 'AR10', 'AR100', 'AR_small', 'AR_medium', 'AR_large')


class ImageMatches(NamedTuple):
  """Per-image result of `coco_match` (A area ranges, T IoU thresholds, D dets, G gts)."""
  det_matched: jax.Array  # [A, T, D] bool: matched to a ground truth (real or ignored)
  det_ignored: jax.Array  # [A, T, D] bool: counts neither as TP nor FP
  det_rank: jax.Array     # [D] int32: rank among its image's same-class dets by score; D if invalid
  gt_ignored: jax.Array   # [A, G] bool: crowd, or area outside the range


def _last_best(mask: jax.Array, iou: jax.Array):
  """Index of the last maximal `iou` where `mask` (pycocotools' `>=` scan), and whether any."""
  g = mask.shape[-1]
  v = jnp.where(mask, iou, -jnp.inf)
  best = jnp.max(v, axis=-1, keepdims=True)
  is_best = mask & (v == best)
  last = g - 1 - jnp.argmax(is_best[..., ::-1], axis=-1)
  return last, jnp.any(mask, axis=-1)


def coco_match(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
               gt_crowd=None, gt_area=None, *, iou_thresholds=IOU_THRESHOLDS,
               area_ranges=AREA_RANGES, max_dets: int = MAX_DETS[-1]) -> ImageMatches:
  """Matches one image's detections to its ground truth at every area range and IoU threshold.

  Args:
    det_boxes: `[D, 4]` xyxy. det_scores: `[D]`. det_labels: `[D]` int. det_valid: `[D]` bool.
    gt_boxes: `[G, 4]` xyxy. gt_labels: `[G]` int. gt_valid: `[G]` bool.
    gt_crowd: `[G]` bool iscrowd (default none).
    gt_area: `[G]` object areas for the area ranges (COCO's annotation 'area', e.g. the mask
      area); default the box area. Detections always use their box area.
    iou_thresholds: `[T]`. area_ranges: `[A, 2]` inclusive (lo, hi) areas.
    max_dets: detections kept per class, best first (pycocotools' largest maxDets).
  Returns:
    ImageMatches in the input detection order.
  """
  det_boxes = box_ops.sanitize(jnp.asarray(det_boxes))
  gt_boxes = box_ops.sanitize(jnp.asarray(gt_boxes))
  det_scores = jnp.asarray(det_scores)
  num_d, num_g = det_boxes.shape[0], gt_boxes.shape[0]
  if num_d == 0 or num_g == 0:
    raise ValueError(f'coco_match needs D >= 1 and G >= 1 slots (got {num_d}, {num_g}): pad with '
                     'invalid entries (det_valid / gt_valid False) instead of empty arrays.')
  gt_crowd = jnp.zeros(num_g, bool) if gt_crowd is None else jnp.asarray(gt_crowd, bool)
  gt_area = box_ops.box_area(gt_boxes) if gt_area is None else jnp.asarray(gt_area)
  det_valid = jnp.asarray(det_valid, bool) & ~jnp.isnan(det_scores)
  gt_valid = jnp.asarray(gt_valid, bool)
  # pycocotools compares with min(t, 1 - 1e-10) so that t = 1 still needs a perfect overlap.
  thr = jnp.minimum(jnp.asarray(iou_thresholds, jnp.float32), 1 - 1e-10)
  ranges = jnp.asarray(area_ranges, jnp.float32)

  order = jnp.argsort(jnp.where(det_valid, det_scores, -jnp.inf), descending=True, stable=True)
  labels = jnp.asarray(det_labels)[order]
  valid = det_valid[order]
  sboxes = det_boxes[order]
  same = labels[:, None] == labels[None, :]
  earlier = jnp.tri(num_d, k=-1, dtype=bool)  # earlier[i, j]: j comes before i
  rank = jnp.sum(same & earlier & valid[None, :], axis=1)
  rank = jnp.where(valid, rank, num_d).astype(jnp.int32)
  active = rank < max_dets

  # IoU [D, G]; a crowd region divides by the detection's area instead of the union.
  lt = jnp.maximum(sboxes[:, None, :2], gt_boxes[None, :, :2])
  rb = jnp.minimum(sboxes[:, None, 2:], gt_boxes[None, :, 2:])
  wh = jnp.maximum(rb - lt, 0)
  inter = wh[..., 0] * wh[..., 1]
  det_area = box_ops.box_area(sboxes)
  union = jnp.where(gt_crowd[None, :], det_area[:, None],
                    det_area[:, None] + box_ops.box_area(gt_boxes)[None, :] - inter)
  iou = jnp.where(union > 0, inter / jnp.where(union > 0, union, 1), 0)
  eligible = gt_valid[None, :] & (labels[:, None] == jnp.asarray(gt_labels)[None, :])

  out_of_range = lambda area: (area[None, :] < ranges[:, :1]) | (area[None, :] > ranges[:, 1:])
  gt_ignored = gt_crowd[None, :] | out_of_range(gt_area)  # [A, G]
  num_a, num_t = ranges.shape[0], thr.shape[0]

  def step(gt_taken, i):
    free = eligible[i] & (~gt_taken | gt_crowd)                     # [A, T, G]
    hit = free & (iou[i] >= thr[:, None])
    real, has_real = _last_best(hit & ~gt_ignored[:, None, :], iou[i])
    ignored, has_ignored = _last_best(hit & gt_ignored[:, None, :], iou[i])
    matched = active[i] & (has_real | has_ignored)                   # [A, T]
    m = jnp.where(has_real, real, ignored)
    gt_taken = gt_taken | (matched[..., None] & (jnp.arange(num_g) == m[..., None]))
    return gt_taken, (matched, matched & ~has_real)

  taken = jnp.zeros((num_a, num_t, num_g), bool)
  _, (matched, on_ignored) = jax.lax.scan(step, taken, jnp.arange(num_d))
  matched, on_ignored = jnp.moveaxis(matched, 0, -1), jnp.moveaxis(on_ignored, 0, -1)
  ignored = on_ignored | (~matched & out_of_range(det_area)[:, None, :])
  inverse = jnp.argsort(order)
  return ImageMatches(matched[..., inverse], ignored[..., inverse], rank[inverse], gt_ignored)


@jax.jit(static_argnames=('max_dets',))
def _batched_match(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
                   gt_crowd, gt_area, iou_thresholds, area_ranges, max_dets):
  one = lambda *args: coco_match(*args, iou_thresholds=iou_thresholds, area_ranges=area_ranges,
                                 max_dets=max_dets)
  return jax.vmap(one)(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels,
                       gt_valid, gt_crowd, gt_area)


class CocoEvaluator:
  """Accumulates COCO box AP over batches of images; `result()` gives pycocotools' numbers.

      ev = CocoEvaluator(num_classes=3)
      for batch in data:
        ev.update(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
                  gt_crowd)
      ev.result()['AP']

  Images are evaluated in update order (pycocotools: sorted image ids); classes are
  0..num_classes-1, all declared, so a class without ground truth gets -1 and is left out of
  the means as in pycocotools.
  """

  def __init__(self, num_classes: int, iou_thresholds=IOU_THRESHOLDS,
               recall_thresholds=RECALL_THRESHOLDS, max_dets=MAX_DETS, area_ranges=AREA_RANGES):
    self.num_classes = num_classes
    self.iou_thresholds = np.asarray(iou_thresholds, np.float64)
    self.recall_thresholds = np.asarray(recall_thresholds, np.float64)
    self.max_dets = tuple(sorted(max_dets))
    self.area_ranges = np.asarray(area_ranges, np.float64)
    self._dets, self._gts = [], []
    self._images = 0

  def update(self, det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels, gt_valid,
             gt_crowd=None, gt_area=None) -> None:
    """Adds a batch of B images: the arguments of `coco_match` with a leading `[B]` axis."""
    b, g = np.shape(gt_labels)
    gt_crowd = np.zeros((b, g), bool) if gt_crowd is None else gt_crowd
    if gt_area is None:
      gt_area = box_ops.box_area(jnp.asarray(gt_boxes))
    m = _batched_match(det_boxes, det_scores, det_labels, det_valid, gt_boxes, gt_labels,
                       gt_valid, gt_crowd, gt_area, self.iou_thresholds.astype(np.float32),
                       self.area_ranges.astype(np.float32), max_dets=self.max_dets[-1])
    self.add_matches(m, det_scores, det_labels, gt_labels, gt_valid)

  def add_matches(self, matches: ImageMatches, det_scores, det_labels, gt_labels,
                  gt_valid) -> None:
    """Adds `[B]`-batched `coco_match` results computed elsewhere (e.g. inside a jitted step,
    returned to the host); the other arguments are that batch's `[B, D]` / `[B, G]` inputs."""
    m = jax.device_get(matches)
    det_labels, det_scores = np.asarray(det_labels), np.asarray(det_scores, np.float64)
    gt_labels, gt_valid = np.asarray(gt_labels), np.asarray(gt_valid, bool)
    for i in range(gt_labels.shape[0]):
      keep = np.nonzero(m.det_rank[i] < self.max_dets[-1])[0]
      self._dets.append(dict(image=np.full(len(keep), self._images), label=det_labels[i][keep],
                             score=det_scores[i][keep], rank=m.det_rank[i][keep],
                             matched=m.det_matched[i][..., keep],
                             ignored=m.det_ignored[i][..., keep]))
      real = gt_valid[i]
      self._gts.append(dict(label=gt_labels[i][real], ignored=m.gt_ignored[i][:, real]))
      self._images += 1

  def accumulate(self) -> dict:
    """pycocotools' accumulate(): precision `[T, R, K, A, M]`, recall `[T, K, A, M]` (-1: no gt)."""
    t, r, k, a, m = (len(self.iou_thresholds), len(self.recall_thresholds), self.num_classes,
                     len(self.area_ranges), len(self.max_dets))
    precision = -np.ones((t, r, k, a, m))
    recall = -np.ones((t, k, a, m))
    cat = lambda key, axis=0, src=self._dets: (np.concatenate([d[key] for d in src], axis=axis)
                                               if src else np.zeros(0))
    if not self._dets:
      return dict(precision=precision, recall=recall)
    image, label, score, rank = cat('image'), cat('label'), cat('score'), cat('rank')
    matched, ignored = cat('matched', -1), cat('ignored', -1)  # [A, T, N]
    gt_label, gt_ignored = cat('label', 0, self._gts), cat('ignored', -1, self._gts)
    # Rows in pycocotools' concatenation order: image by image, each by its score order.
    base = np.lexsort((rank, image))
    for ki in range(k):
      for ai in range(a):
        npig = np.count_nonzero((gt_label == ki) & ~gt_ignored[ai])
        if npig == 0:
          continue
        for mi, max_det in enumerate(self.max_dets):
          rows = base[(label[base] == ki) & (rank[base] < max_det)]
          rows = rows[np.argsort(-score[rows], kind='mergesort')]
          dtm, dt_ig = matched[ai][:, rows], ignored[ai][:, rows]
          tp_sum = np.cumsum(dtm & ~dt_ig, axis=1).astype(float)
          fp_sum = np.cumsum(~dtm & ~dt_ig, axis=1).astype(float)
          for ti in range(t):
            tp, fp = tp_sum[ti], fp_sum[ti]
            nd = len(tp)
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            recall[ti, ki, ai, mi] = rc[-1] if nd else 0
            pr = np.maximum.accumulate(pr[::-1])[::-1]  # the precision envelope
            inds = np.searchsorted(rc, self.recall_thresholds, side='left')
            q = np.where(inds < nd, pr[np.minimum(inds, nd - 1)] if nd else 0, 0)
            precision[ti, :, ki, ai, mi] = q
    return dict(precision=precision, recall=recall)

  def result(self) -> dict:
    """The 12 summary numbers by name (STAT_NAMES), `stats` in pycocotools' order, and arrays."""
    acc = self.accumulate()

    def summarize(ap, iou=None, area='all', max_det=100):
      s = acc['precision'] if ap else acc['recall']
      if iou is not None:
        s = s[np.where(iou == self.iou_thresholds)[0]]
      ai = [i for i, name in enumerate(AREA_NAMES) if name == area]
      mi = [i for i, d in enumerate(self.max_dets) if d == max_det]
      s = s[..., ai, mi]
      return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    top = self.max_dets[-1]
    stats = [summarize(1, max_det=top), summarize(1, .5, max_det=top),
             summarize(1, .75, max_det=top)]
    stats += [summarize(1, area=n, max_det=top) for n in AREA_NAMES[1:]]
    stats += [summarize(0, max_det=d) for d in self.max_dets]
    stats += [summarize(0, area=n, max_det=top) for n in AREA_NAMES[1:]]
    return dict(zip(STAT_NAMES, stats), stats=np.asarray(stats), **acc)
