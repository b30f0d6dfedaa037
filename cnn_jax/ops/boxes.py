"""Boxes: format conversions, area, clipping, the IoU family, and box encodings.

Boxes are `[..., 4]` arrays. The project's format is `xyxy` = (x1, y1, x2, y2) in pixels
(torchvision's); `xywh` = (x1, y1, w, h) is COCO's and `cxcywh` = (cx, cy, w, h) YOLO's.
Pixel coordinates are continuous: a box (0, 0, 2, 2) covers 2 x 2 = 4 pixels (no VOC "+1").

The course's intersection over union, for boxes A and B:

    IoU(A, B) = area(A ∩ B) / area(A ∪ B),   area(A ∪ B) = area(A) + area(B) - area(A ∩ B)

and a detection "is correct" when IoU >= 0.5. The variants used as regression losses:

    GIoU = IoU - (area(C) - area(A ∪ B)) / area(C)          C: smallest box enclosing A and B
    DIoU = IoU - ρ²(centre_A, centre_B) / (c² + eps)        c: diagonal of C
    CIoU = DIoU - α v,  v = 4/π² (atan(w_B/h_B) - atan(w_A/h_A))²,  α = v / (1 - IoU + v + eps)

Degenerate boxes are defined, never NaN: a width or height below 0 (x2 < x1) counts as 0, a
box with a non-finite coordinate counts as the empty box (0, 0, 0, 0), and every ratio whose
denominator is 0 is 0 (so IoU of two empty boxes is 0, as is GIoU). On valid boxes every
function equals torchvision's `box_iou`, `generalized_box_iou`, `distance_box_iou`,
`complete_box_iou` (tests/fixtures/make_torchvision_boxes.py); torchvision returns NaN or
negative areas on degenerate ones.
"""
import math

import jax
import jax.numpy as jnp

FORMATS = ('xyxy', 'xywh', 'cxcywh')
# torchvision's BoxCoder clamp on dw, dh before exp: boxes at most 1000/16 times the anchor.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def convert(boxes: jax.Array, in_fmt: str, out_fmt: str) -> jax.Array:
  """Converts `[..., 4]` boxes between 'xyxy', 'xywh' and 'cxcywh' (torchvision's box_convert).

  xyxy -> cxcywh: cx = (x1 + x2) / 2, w = x2 - x1; cxcywh -> xyxy: x1 = cx - w / 2, x2 = cx + w / 2.
  """
  if in_fmt not in FORMATS or out_fmt not in FORMATS:
    raise ValueError(f'box formats are {FORMATS}, got {in_fmt!r} -> {out_fmt!r}')
  if in_fmt == out_fmt:
    return boxes
  a, b, c, d = jnp.moveaxis(boxes, -1, 0)
  if in_fmt == 'xywh':
    a, b, c, d = a, b, a + c, b + d
  elif in_fmt == 'cxcywh':
    a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
  # (a, b, c, d) is now xyxy.
  if out_fmt == 'xywh':
    a, b, c, d = a, b, c - a, d - b
  elif out_fmt == 'cxcywh':
    a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
  return jnp.stack([a, b, c, d], axis=-1)


def sanitize(boxes: jax.Array) -> jax.Array:
  """Replaces every `[..., 4]` box that has a NaN or infinite coordinate by (0, 0, 0, 0)."""
  finite = jnp.all(jnp.isfinite(boxes), axis=-1, keepdims=True)
  return jnp.where(finite, boxes, 0)


def box_area(boxes: jax.Array) -> jax.Array:
  """Area of `[..., 4]` xyxy boxes: max(x2 - x1, 0) * max(y2 - y1, 0); non-finite boxes give 0."""
  boxes = sanitize(boxes)
  w = jnp.maximum(boxes[..., 2] - boxes[..., 0], 0)
  h = jnp.maximum(boxes[..., 3] - boxes[..., 1], 0)
  return w * h


def clip_boxes(boxes: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Clips `[..., 4]` xyxy boxes to an image of `size = (height, width)`.

  x to [0, width], y to [0, height] (torchvision's clip_boxes_to_image).
  """
  height, width = size
  x = jnp.clip(boxes[..., 0::2], 0, width)
  y = jnp.clip(boxes[..., 1::2], 0, height)
  return jnp.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], axis=-1)


def remove_small_boxes(boxes: jax.Array, min_size: float) -> jax.Array:
  """Keep-mask `[...]` of the boxes whose width and height are both >= min_size.

  torchvision's remove_small_boxes returns the kept indices (a data-dependent shape); a mask
  keeps the shape static. Non-finite boxes are never kept.
  """
  w = boxes[..., 2] - boxes[..., 0]
  h = boxes[..., 3] - boxes[..., 1]
  return (w >= min_size) & (h >= min_size) & jnp.all(jnp.isfinite(boxes), axis=-1)


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
  """num / den where den > 0, else 0, with finite gradients on both branches."""
  ok = den > 0
  return jnp.where(ok, num / jnp.where(ok, den, 1), 0)


def _iou_parts(a: jax.Array, b: jax.Array):
  """Shared terms of the IoU family for broadcastable `[..., 4]` boxes a and b."""
  a, b = sanitize(a), sanitize(b)
  area_a, area_b = box_area(a), box_area(b)
  lt = jnp.maximum(a[..., :2], b[..., :2])
  rb = jnp.minimum(a[..., 2:], b[..., 2:])
  wh = jnp.maximum(rb - lt, 0)
  inter = wh[..., 0] * wh[..., 1]
  # Same operation order as torchvision (area_a + area_b - inter) so that values compared
  # against an NMS threshold are bit-identical.
  union = area_a + area_b - inter
  return a, b, inter, union


def _enclosing_wh(a: jax.Array, b: jax.Array) -> jax.Array:
  """Width and height `[..., 2]` of the smallest box enclosing a and b."""
  return jnp.maximum(jnp.maximum(a[..., 2:], b[..., 2:]) - jnp.minimum(a[..., :2], b[..., :2]), 0)


def _wh(boxes: jax.Array) -> tuple[jax.Array, jax.Array]:
  return (jnp.maximum(boxes[..., 2] - boxes[..., 0], 0),
          jnp.maximum(boxes[..., 3] - boxes[..., 1], 0))


def _atan_ratio(w: jax.Array, h: jax.Array) -> jax.Array:
  """atan(w / h) for w, h >= 0, as atan2 so h = 0 gives π/2 (w > 0) or 0 (w = 0), never NaN."""
  both_zero = (w == 0) & (h == 0)
  # atan2's gradient at (0, 0) is 0/0; feed it (0, 1) there instead.
  return jnp.arctan2(w, jnp.where(both_zero, 1, h))


def paired_iou(boxes1: jax.Array, boxes2: jax.Array, kind: str = 'iou', eps: float = 0.0,
               enclosing_eps: float = 1e-7) -> jax.Array:
  """IoU, GIoU, DIoU or CIoU of broadcastable `[..., 4]` xyxy boxes, elementwise -> `[...]`.

  Args:
    boxes1, boxes2: boxes (A and B in the module docstring), broadcastable against each other.
    kind: 'iou' | 'giou' | 'diou' | 'ciou'.
    eps: added to the union (IoU = inter / (union + eps)) and, for 'giou', to area(C);
      torchvision's matrix functions use 0, its losses 1e-7.
    enclosing_eps: the eps added to c² (DIoU, CIoU) and to the α denominator (CIoU);
      torchvision uses 1e-7 for both.
  Returns:
    `[...]` float values: IoU in [0, 1], GIoU in [-1, 1], DIoU and CIoU in [-1, 1].
  """
  if kind not in ('iou', 'giou', 'diou', 'ciou'):
    raise ValueError(f"kind must be 'iou', 'giou', 'diou' or 'ciou', got {kind!r}")
  a, b, inter, union = _iou_parts(boxes1, boxes2)
  iou = _safe_div(inter, union + eps)
  if kind == 'iou':
    return iou
  wh_c = _enclosing_wh(a, b)
  if kind == 'giou':
    area_c = wh_c[..., 0] * wh_c[..., 1]
    return iou - _safe_div(area_c - union, area_c + eps)
  diag2 = wh_c[..., 0] ** 2 + wh_c[..., 1] ** 2 + enclosing_eps
  ca = (a[..., :2] + a[..., 2:]) / 2
  cb = (b[..., :2] + b[..., 2:]) / 2
  rho2 = (ca[..., 0] - cb[..., 0]) ** 2 + (ca[..., 1] - cb[..., 1]) ** 2
  diou = iou - _safe_div(rho2, diag2)
  if kind == 'diou':
    return diou
  wa, ha = _wh(a)
  wb, hb = _wh(b)
  v = (4 / math.pi ** 2) * (_atan_ratio(wb, hb) - _atan_ratio(wa, ha)) ** 2
  # α is a weight, not a function to differentiate (the CIoU paper; torchvision uses no_grad).
  alpha = jax.lax.stop_gradient(_safe_div(v, 1 - iou + v + enclosing_eps))
  return diou - alpha * v


def box_iou(boxes1: jax.Array, boxes2: jax.Array) -> jax.Array:
  """IoU matrix `[N, M]` of `[N, 4]` and `[M, 4]` xyxy boxes: area(A ∩ B) / area(A ∪ B)."""
  return paired_iou(boxes1[:, None, :], boxes2[None, :, :], 'iou')


def generalized_box_iou(boxes1: jax.Array, boxes2: jax.Array) -> jax.Array:
  """GIoU matrix `[N, M]`: IoU - (area(C) - area(A ∪ B)) / area(C), C the enclosing box."""
  return paired_iou(boxes1[:, None, :], boxes2[None, :, :], 'giou')


def distance_box_iou(boxes1: jax.Array, boxes2: jax.Array, eps: float = 1e-7) -> jax.Array:
  """DIoU matrix `[N, M]`: IoU - ρ²(centres) / (c² + eps), c the enclosing box's diagonal."""
  return paired_iou(boxes1[:, None, :], boxes2[None, :, :], 'diou', enclosing_eps=eps)


def complete_box_iou(boxes1: jax.Array, boxes2: jax.Array, eps: float = 1e-7) -> jax.Array:
  """CIoU matrix `[N, M]`: DIoU - α v with the aspect-ratio term v (module docstring)."""
  return paired_iou(boxes1[:, None, :], boxes2[None, :, :], 'ciou', enclosing_eps=eps)


def encode(boxes: jax.Array, anchors: jax.Array, weights=(1.0, 1.0, 1.0, 1.0),
           eps: float = 1e-6) -> jax.Array:
  """Faster R-CNN regression targets `[..., 4]` of xyxy `boxes` relative to xyxy `anchors`.

      dx = wx (x_box - x_anchor) / w_anchor      dw = ww log(w_box / w_anchor)
      dy = wy (y_box - y_anchor) / h_anchor      dh = wh log(h_box / h_anchor)

  with (x, y) box centres. torchvision's BoxCoder: weights (1, 1, 1, 1) for the RPN,
  (10, 10, 5, 5) for the RoI heads. Widths and heights below `eps` are raised to eps so an
  empty box gives large finite targets instead of inf/NaN.
  """
  wx, wy, ww, wh = weights
  aw = jnp.maximum(anchors[..., 2] - anchors[..., 0], eps)
  ah = jnp.maximum(anchors[..., 3] - anchors[..., 1], eps)
  ax = anchors[..., 0] + 0.5 * aw
  ay = anchors[..., 1] + 0.5 * ah
  bw = jnp.maximum(boxes[..., 2] - boxes[..., 0], eps)
  bh = jnp.maximum(boxes[..., 3] - boxes[..., 1], eps)
  bx = boxes[..., 0] + 0.5 * bw
  by = boxes[..., 1] + 0.5 * bh
  return jnp.stack([wx * (bx - ax) / aw, wy * (by - ay) / ah,
                    ww * jnp.log(bw / aw), wh * jnp.log(bh / ah)], axis=-1)


def decode(deltas: jax.Array, anchors: jax.Array, weights=(1.0, 1.0, 1.0, 1.0),
           clip: float = BBOX_XFORM_CLIP) -> jax.Array:
  """Inverse of `encode`: xyxy boxes `[..., 4]` from deltas (dx, dy, dw, dh) and anchors.

      x = dx / wx * w_anchor + x_anchor      w = exp(min(dw / ww, clip)) * w_anchor

  (same for y, h). The clamp `clip = log(1000 / 16)` is torchvision's: it keeps exp() from
  overflowing when an untrained head predicts a huge dw.
  """
  wx, wy, ww, wh = weights
  aw = anchors[..., 2] - anchors[..., 0]
  ah = anchors[..., 3] - anchors[..., 1]
  ax = anchors[..., 0] + 0.5 * aw
  ay = anchors[..., 1] + 0.5 * ah
  dx, dy = deltas[..., 0] / wx, deltas[..., 1] / wy
  dw = jnp.minimum(deltas[..., 2] / ww, clip)
  dh = jnp.minimum(deltas[..., 3] / wh, clip)
  cx, cy = dx * aw + ax, dy * ah + ay
  w, h = jnp.exp(dw) * aw, jnp.exp(dh) * ah
  return jnp.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], axis=-1)


def yolo_decode(t: jax.Array, cells: jax.Array, anchor_wh: jax.Array,
                stride: float) -> jax.Array:
  """YOLOv2 box from raw outputs t = (tx, ty, tw, th) `[..., 4]`, as xyxy pixels.

      bx = (σ(tx) + cx) * stride     bw = pw * exp(tw)
      by = (σ(ty) + cy) * stride     bh = ph * exp(th)

  Args:
    t: raw network outputs `[..., 4]`.
    cells: `[..., 2]` grid cell (cx, cy) = (column, row) the prediction belongs to; the sigmoid
      keeps the centre inside that cell.
    anchor_wh: `[..., 2]` anchor (prior) width and height pw, ph in pixels.
    stride: pixels per grid cell (32 for YOLOv2 at 416 -> 13 x 13).
  """
  centre = (jax.nn.sigmoid(t[..., :2]) + cells) * stride
  wh = anchor_wh * jnp.exp(t[..., 2:])
  return jnp.concatenate([centre - wh / 2, centre + wh / 2], axis=-1)


def yolo_encode(boxes: jax.Array, cells: jax.Array, anchor_wh: jax.Array, stride: float,
                eps: float = 1e-6) -> jax.Array:
  """Inverse of `yolo_decode`: raw targets t `[..., 4]` for xyxy `boxes` in `cells`.

  tx = logit(bx / stride - cx) with the offset clipped to [eps, 1 - eps] (a centre exactly on
  a cell border would need an infinite logit); tw = log(bw / pw) with bw raised to eps.
  """
  centre = (boxes[..., :2] + boxes[..., 2:]) / 2
  offset = jnp.clip(centre / stride - cells, eps, 1 - eps)
  wh = jnp.maximum(boxes[..., 2:] - boxes[..., :2], eps)
  return jnp.concatenate([jnp.log(offset) - jnp.log1p(-offset), jnp.log(wh / anchor_wh)], axis=-1)


def yolo_cells(boxes: jax.Array, stride: float) -> jax.Array:
  """Grid cell (column, row) `[..., 2]` int32 that holds each xyxy box's centre.

  The cell c with c stride <= centre < (c + 1) stride, exactly: under `jit`, centre / stride
  becomes centre * fl(1 / stride), which puts a centre just below a border (119.99999 at
  stride 24) into the next cell; one step of correction with products fixes that.
  """
  centre = (boxes[..., :2] + boxes[..., 2:]) / 2
  cell = jnp.floor(centre / stride)
  cell = cell - (cell * stride > centre) + ((cell + 1) * stride <= centre)
  return cell.astype(jnp.int32)
