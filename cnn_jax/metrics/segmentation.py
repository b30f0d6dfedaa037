"""Segmentation metrics: per-class IoU, mIoU, Dice (F1), pixel accuracy, with stated reductions.

Everything starts from per-image, per-class counts (jittable, static shapes):

    tp, fp, fn, tn = stats(pred, target, num_classes, ignore_index=255)     # each [N, K]
    miou = iou(tp, fp, fn, tn, reduction='macro')                           # scalar

pred, target `[N, H, W]` integer class ids; pixels whose target is `ignore_index` (or whose
`valid` flag is False) count nowhere. For class c in image n: tp = #(pred = c, target = c),
fp = #(pred = c, target != c), fn = #(pred != c, target = c), tn = the rest.

    IoU  = tp / (tp + fp + fn)          Dice = F1 = 2 tp / (2 tp + fp + fn)
    pixel accuracy = sum_c tp / #counted pixels

Reductions (segmentation-models-pytorch's names and meaning; checked against it):
  'micro'            sum tp, fp, fn over images and classes, then one score
  'macro'            sum over images (the dataset), score per class, mean over classes: the
                     dataset mIoU / mean Dice of the segmentation literature
  'weighted'         as macro, classes weighted by `class_weights` (normalised to sum 1)
  'micro-imagewise'  per image: sum over classes, score; then mean over images
  'macro-imagewise'  per image and class: score; mean over images, then over classes
  'none'             `[N, K]` per image and class
Empty rule: a score whose denominator is 0 (the class is absent from both prediction and
target: nothing to find, nothing wrongly found) is `empty` (default 1.0, smp's
zero_division=1.0); pass 0.0 or nan to count such cases differently.

Over a test set, `ConfusionMatrix` accumulates the `[K, K]` confusion matrix batch by batch
(padded examples masked out, so each example counts exactly once); its per-class counts give
the 'macro' (dataset) scores.
"""
import jax
import jax.numpy as jnp
import numpy as np

REDUCTIONS = ('micro', 'macro', 'weighted', 'micro-imagewise', 'macro-imagewise', 'none')


def _counted(target, ignore_index, valid):
  """`[N, H, W]` bool: the pixel counts."""
  counted = jnp.ones(target.shape, bool)
  if ignore_index is not None:
    counted = counted & (target != ignore_index)
  if valid is not None:
    counted = counted & jnp.asarray(valid, bool).reshape(
        valid.shape + (1,) * (target.ndim - jnp.ndim(valid)))
  return counted


def confusion_matrix(pred, target, num_classes: int, ignore_index: int | None = None,
                     valid=None) -> jax.Array:
  """`[K, K]` int32 counts, rows = target class, columns = predicted class, over all counted
  pixels of `[N, H, W]` pred / target. `valid` `[N]` (or `[N, H, W]`) masks padded examples."""
  counted = _counted(target, ignore_index, valid)
  t = jnp.where(counted, target, 0).astype(jnp.int32)
  p = jnp.clip(pred.astype(jnp.int32), 0, num_classes - 1)
  index = (t * num_classes + p).ravel()
  cm = jnp.zeros(num_classes * num_classes, jnp.int32).at[index].add(
      counted.ravel().astype(jnp.int32))
  return cm.reshape(num_classes, num_classes)


def stats(pred, target, num_classes: int, ignore_index: int | None = None, valid=None):
  """(tp, fp, fn, tn), each `[N, K]` int32 per image and class (module doc)."""
  counted = _counted(target, ignore_index, valid)
  onehot_p = jax.nn.one_hot(pred, num_classes, dtype=jnp.int32) * counted[..., None]
  onehot_t = jax.nn.one_hot(jnp.where(counted, target, 0), num_classes,
                            dtype=jnp.int32) * counted[..., None]
  axes = tuple(range(1, pred.ndim))
  tp = (onehot_p * onehot_t).sum(axes)
  fp = onehot_p.sum(axes) - tp
  fn = onehot_t.sum(axes) - tp
  tn = counted.sum(axes)[:, None] - tp - fp - fn
  return tp, fp, fn, tn


def _ratio(num, den, empty):
  num, den = jnp.asarray(num, jnp.float32), jnp.asarray(den, jnp.float32)
  return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), empty)


def _reduce(score_fn, tp, fp, fn, tn, reduction: str, class_weights, empty):
  if reduction not in REDUCTIONS:
    raise ValueError(f'Unknown reduction {reduction!r}; choose from {REDUCTIONS}.')
  if reduction == 'micro':
    return score_fn(tp.sum(), fp.sum(), fn.sum(), tn.sum(), empty)
  if reduction in ('macro', 'weighted'):
    per_class = score_fn(tp.sum(0), fp.sum(0), fn.sum(0), tn.sum(0), empty)
    if reduction == 'macro':
      return per_class.mean()
    if class_weights is None:
      raise ValueError("reduction='weighted' needs class_weights [K].")
    w = jnp.asarray(class_weights, jnp.float32)
    return (per_class * w / w.sum()).sum()
  if reduction == 'micro-imagewise':
    return score_fn(tp.sum(1), fp.sum(1), fn.sum(1), tn.sum(1), empty).mean()
  per_image = score_fn(tp, fp, fn, tn, empty)
  return per_image if reduction == 'none' else per_image.mean(0).mean()


def _iou(tp, fp, fn, tn, empty):
  return _ratio(tp, tp + fp + fn, empty)


def _dice(tp, fp, fn, tn, empty):
  return _ratio(2 * tp, 2 * tp + fp + fn, empty)


def _accuracy(tp, fp, fn, tn, empty):
  return _ratio(tp + tn, tp + fp + fn + tn, empty)


def iou(tp, fp, fn, tn, reduction: str = 'macro', class_weights=None, empty: float = 1.0):
  """Intersection over union tp / (tp + fp + fn) under `reduction` (module doc)."""
  return _reduce(_iou, tp, fp, fn, tn, reduction, class_weights, empty)


def dice(tp, fp, fn, tn, reduction: str = 'macro', class_weights=None, empty: float = 1.0):
  """Dice = F1 = 2 tp / (2 tp + fp + fn) under `reduction` (module doc)."""
  return _reduce(_dice, tp, fp, fn, tn, reduction, class_weights, empty)


def class_accuracy(tp, fp, fn, tn, reduction: str = 'macro', class_weights=None,
                   empty: float = 1.0):
  """smp's per-class 'accuracy' (tp + tn) / all, under `reduction` (one-vs-rest per class;
  for multiclass pixel accuracy use `pixel_accuracy`)."""
  return _reduce(_accuracy, tp, fp, fn, tn, reduction, class_weights, empty)


def pixel_accuracy(tp, fp, fn, tn, per_image: bool = False, empty: float = 1.0):
  """Fraction of counted pixels whose predicted class is right: sum_c tp / #pixels, over the
  whole set (default) or `[N]` per image."""
  pixels = (tp + fn).sum(-1)  # every counted pixel is in exactly one target class
  if per_image:
    return _ratio(tp.sum(-1), pixels, empty)
  return _ratio(tp.sum(), pixels.sum(), empty)


def scores_from_confusion(cm, empty: float = 1.0) -> dict:
  """Dataset scores from an accumulated `[K, K]` confusion matrix (rows = target):
  per-class IoU and Dice `[K]`, mIoU, mean Dice ('macro'), pixel accuracy."""
  cm = np.asarray(cm, np.float64)
  tp = np.diag(cm)
  fp, fn = cm.sum(0) - tp, cm.sum(1) - tp
  with np.errstate(invalid='ignore', divide='ignore'):
    iou_c = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), empty)
    dice_c = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), empty)
  total = cm.sum()
  return dict(iou=iou_c, dice=dice_c, miou=float(iou_c.mean()), mean_dice=float(dice_c.mean()),
              pixel_accuracy=float(tp.sum() / total) if total else empty)


class ConfusionMatrix:
  """Host-side accumulator over a test set: `update(pred, target, valid)` per batch (device
  arrays fine: `confusion_matrix` runs jitted), `result()` -> `scores_from_confusion`."""

  def __init__(self, num_classes: int, ignore_index: int | None = None):
    self.num_classes, self.ignore_index = num_classes, ignore_index
    self.matrix = np.zeros((num_classes, num_classes), np.int64)
    self._fn = jax.jit(lambda p, t, v: confusion_matrix(p, t, num_classes, ignore_index, v))
    self.examples = 0

  def update(self, pred, target, valid=None) -> None:
    """Adds one batch; `valid` `[N]` masks padded examples (counted once overall)."""
    if valid is None:
      valid = np.ones(np.shape(pred)[:1], bool)
    self.matrix += np.asarray(self._fn(pred, target, valid), np.int64)
    self.examples += int(np.asarray(valid).sum())

  def result(self, empty: float = 1.0) -> dict:
    return {**scores_from_confusion(self.matrix, empty), 'examples': self.examples}


def instance_report(foreground: np.ndarray, instances: np.ndarray, cover: float = 0.5,
                    piece: float = 0.2) -> dict:
  """How a binary prediction `[H, W]` treats the true instances `[H, W]` (0 = background),
  host side. The prediction's connected components (8-connected) are its objects; with
  a_tp = |true t & component p|:
    matched  true objects with a component of IoU >= 0.5 (one-to-one at that threshold)
    merged   components covering >= `cover` of 2 or more true objects (touching nuclei fused);
             `merged_objects` counts the true objects inside them
    split    true objects with 2 or more components each covering >= `piece` of it
    missed   true objects no component covers >= `cover` of
    spurious components with less than `cover` of their area on true objects
  """
  from skimage import measure  # host-side connected components
  comps = measure.label(np.asarray(foreground, bool), connectivity=2)
  instances = np.asarray(instances)
  true_ids = [i for i in np.unique(instances) if i != 0]
  pred_ids = [i for i in np.unique(comps) if i != 0]
  pairs = np.zeros((len(true_ids), len(pred_ids)), np.int64)
  t_index = {t: i for i, t in enumerate(true_ids)}
  p_index = {p: j for j, p in enumerate(pred_ids)}
  both = (instances != 0) & (comps != 0)
  for t, p in zip(instances[both], comps[both]):
    pairs[t_index[t], p_index[p]] += 1
  t_area = np.array([(instances == t).sum() for t in true_ids], np.float64).reshape(-1, 1)
  p_area = np.array([(comps == p).sum() for p in pred_ids], np.float64).reshape(1, -1)
  frac_t = pairs / np.maximum(t_area, 1)          # share of true object t inside component p
  frac_p = pairs / np.maximum(p_area, 1)          # share of component p on true object t
  iou = pairs / np.maximum(t_area + p_area - pairs, 1)
  merged = (frac_t >= cover).sum(0) >= 2
  return dict(true_objects=len(true_ids), predicted_objects=len(pred_ids),
              matched=int((iou >= 0.5).any(1).sum()),
              merged=int(merged.sum()), merged_objects=int((frac_t[:, merged] >= cover).sum()),
              split=int(((frac_t >= piece).sum(1) >= 2).sum()),
              missed=int((frac_t.max(1, initial=0) < cover).sum()),
              spurious=int((frac_p.sum(0) < cover).sum()))
