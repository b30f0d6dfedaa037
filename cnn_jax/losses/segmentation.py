"""Per-pixel losses for semantic segmentation: cross-entropy, soft Dice, Dice + CE, and the
U-Net paper's border weight map.

Shapes: logits `[N, H, W, K]`, labels `[N, H, W]` integer class ids in [0, K) or
`ignore_index` (pixels that count nowhere: padding, 'don't care' borders), optional per-pixel
weights `[N, H, W]`. Every loss is a jittable scalar.

    loss = pixel_cross_entropy(logits, labels, class_weights=w, ignore_index=255)
    loss = dice_ce_loss(logits, labels, dice_weight=1.0, ce_weight=1.0)
    weights = border_weight_map(instances, w0=10.0, sigma=5.0)      # host side, per image
"""
import jax
import jax.numpy as jnp
import numpy as np


def _valid(labels, ignore_index):
  """`[N, H, W]` float: 1 where the pixel counts, 0 where it carries `ignore_index`."""
  if ignore_index is None:
    return jnp.ones(labels.shape, jnp.float32)
  return (labels != ignore_index).astype(jnp.float32)


def pixel_cross_entropy(logits, labels, class_weights=None, ignore_index: int | None = None,
                        pixel_weights=None) -> jax.Array:
  """Weighted mean of -log softmax(logits)[y] over the counted pixels:

      L = sum_i v_i c_{y_i} m_i (-log p_i[y_i]) / sum_i v_i c_{y_i} m_i

  v: 1 unless y_i == ignore_index; c: `class_weights` `[K]` (default 1); m: `pixel_weights`
  `[N, H, W]` (e.g. `border_weight_map`; default 1). Without pixel weights this is
  `torch.nn.functional.cross_entropy(weight=c, ignore_index=...)` exactly (its 'mean' divides
  by the summed weights too). With pixel weights the normaliser includes them, so a weight
  map changes where the loss looks, not its scale. 0 / 0 (nothing counted) gives 0.
  """
  num_classes = logits.shape[-1]
  valid = _valid(labels, ignore_index)
  safe = jnp.where(valid > 0, labels, 0)
  log_p = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
  nll = -jnp.take_along_axis(log_p, safe[..., None].astype(jnp.int32), -1)[..., 0]
  weight = valid
  if class_weights is not None:
    class_weights = jnp.asarray(class_weights, jnp.float32)
    if class_weights.shape != (num_classes,):
      raise ValueError(f'class_weights has shape {class_weights.shape}; the logits have '
                       f'{num_classes} classes.')
    weight = weight * class_weights[safe]
  if pixel_weights is not None:
    weight = weight * pixel_weights.astype(jnp.float32)
  total = weight.sum()
  return jnp.where(total > 0, (weight * nll).sum() / jnp.where(total > 0, total, 1.0), 0.0)


def soft_dice_loss(logits, labels, ignore_index: int | None = None, eps: float = 1e-7):
  """Multiclass soft Dice over the whole batch (segmentation-models-pytorch's DiceLoss,
  mode='multiclass', smooth=0):

      p = softmax(logits), g = one_hot(labels), both zeroed at ignored pixels
      D_c = 2 sum_{n,i} p_c g_c / max(sum p_c + sum g_c, eps)     (per class, batch-wide sums)
      L = mean_c (1 - D_c) [class c present in the batch's labels]

  A class absent from the labels contributes 0 (its Dice is undefined: 0/0 with perfect
  prediction), and the mean is still over all K classes, as in smp.
  """
  num_classes = logits.shape[-1]
  valid = _valid(labels, ignore_index)[..., None]
  probs = jax.nn.softmax(logits.astype(jnp.float32), -1) * valid
  onehot = jax.nn.one_hot(jnp.where(valid[..., 0] > 0, labels, 0), num_classes) * valid
  axes = tuple(range(logits.ndim - 1))
  intersection = (probs * onehot).sum(axes)
  cardinality = probs.sum(axes) + onehot.sum(axes)
  dice = 2.0 * intersection / jnp.maximum(cardinality, eps)
  present = onehot.sum(axes) > 0
  return jnp.mean((1.0 - dice) * present)


def dice_ce_loss(logits, labels, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 class_weights=None, ignore_index: int | None = None, pixel_weights=None):
  """ce_weight * `pixel_cross_entropy` + dice_weight * `soft_dice_loss` (the usual pairing:
  CE gives every pixel a gradient, Dice counters the background's majority)."""
  ce = pixel_cross_entropy(logits, labels, class_weights, ignore_index, pixel_weights)
  return ce_weight * ce + dice_weight * soft_dice_loss(logits, labels, ignore_index)


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
  """`[K]` weights w_c = P / (K P_c) (P pixels, P_c of class c; 0 for an absent class): each
  class then carries the same total weight (the paper's 'balance the class frequencies')."""
  counts = np.bincount(np.asarray(labels).ravel(), minlength=num_classes)[:num_classes]
  total = counts.sum()
  return np.where(counts > 0, total / (num_classes * np.maximum(counts, 1)), 0.0)


def border_weight_map(instances: np.ndarray, w0: float = 10.0, sigma: float = 5.0,
                      class_weights: np.ndarray | None = None) -> np.ndarray:
  """The U-Net paper's weight map (eq. 2) for an instance mask `[H, W]` (0 = background,
  1..M = cells), float32 `[H, W]`:

      w(x) = w_c(x) + w0 exp(-(d1(x) + d2(x))^2 / (2 sigma^2))   on background pixels
      w(x) = w_c(x)                                               on cell pixels

  d1, d2: Euclidean distances (pixel centres) to the nearest and the second nearest cell;
  w_c: per-class weights for background / cell (default `balanced_class_weights`). The paper
  uses w0 = 10, sigma ~ 5 px: thin background gaps between touching cells weigh most, which
  teaches the net to separate them. With fewer than 2 cells the border term is 0. Host side
  (numpy + scipy's exact distance transform): compute once per training image.
  """
  from scipy import ndimage  # scikit-image's dependency; only this host-side helper needs it
  instances = np.asarray(instances)
  if instances.ndim != 2:
    raise ValueError(f'border_weight_map takes one instance mask [H, W]; got {instances.shape}.')
  foreground = instances > 0
  if class_weights is None:
    class_weights = balanced_class_weights(foreground.astype(np.int64), 2)
  weights = np.asarray(class_weights, np.float64)[foreground.astype(np.int64)]
  ids = np.unique(instances[foreground])
  if len(ids) < 2:
    return weights.astype(np.float32)
  nearest = np.full(instances.shape, np.inf)
  second = np.full(instances.shape, np.inf)
  for i in ids:  # distance from every pixel to cell i; keep the two smallest
    d = ndimage.distance_transform_edt(instances != i)
    second = np.minimum(second, np.maximum(nearest, d))
    nearest = np.minimum(nearest, d)
  border = w0 * np.exp(-((nearest + second) ** 2) / (2.0 * sigma ** 2))
  return (weights + np.where(foreground, 0.0, border)).astype(np.float32)


def check_labels(labels, num_classes: int, ignore_index: int | None = None,
                 source: str = 'labels') -> None:
  """Host-side guard: ValueError naming the first label value outside [0, K) (and not the
  ignore index), where it is (index) and in which `source` (a file name, a dataset split)."""
  labels = np.asarray(labels)
  bad = (labels < 0) | (labels >= num_classes)
  if ignore_index is not None:
    bad &= labels != ignore_index
  if bad.any():
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(f'{source}: label value {labels[where]} at index {where} is outside '
                     f'[0, {num_classes}) (num_classes={num_classes}, ignore_index='
                     f'{ignore_index}); fix the mask or raise num_classes.')
