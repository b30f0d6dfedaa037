"""The course's localization vector y = [p_c, bx, by, bh, bw, c1..cn] (pure jax.numpy).

(bx, by) is the box centre, (bh, bw) its height and width, all as fractions of the image
(top-left (0, 0), bottom-right (1, 1)); the project's boxes are xyxy pixels, and these
convert between the two for an (H, W) image. A network's raw y is decoded with p_c =
sigmoid, box = sigmoid, classes = softmax; raw landmarks [N, 2 L] with sigmoid into
normalised (x / W, y / H) points.
"""
import jax
import jax.numpy as jnp

from cnn_jax.ops import boxes as box_ops


def decode(y: jax.Array) -> dict:
  """Raw y [N, 5 + n] -> {'p_c': [N] probability, 'box': [N, 4] (bx, by, bh, bw) in (0, 1),
  'class_probs': [N, n] softmax, 'class': [N] argmax}."""
  probs = jax.nn.softmax(y[:, 5:], -1)
  return {'p_c': jax.nn.sigmoid(y[:, 0]), 'box': jax.nn.sigmoid(y[:, 1:5]),
          'class_probs': probs, 'class': jnp.argmax(y[:, 5:], -1)}


def decode_landmarks(raw: jax.Array) -> jax.Array:
  """Raw landmarks [N, 2 L] -> normalised points [N, L, 2] (x / W, y / H) in (0, 1)."""
  return jax.nn.sigmoid(raw).reshape(raw.shape[0], -1, 2)


def box_to_xyxy(box: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Course box (bx, by, bh, bw) as fractions of an (H, W) image -> xyxy pixels [..., 4]."""
  h, w = size
  cx, cy, bh, bw = box[..., 0] * w, box[..., 1] * h, box[..., 2] * h, box[..., 3] * w
  return box_ops.convert(jnp.stack([cx, cy, bw, bh], -1), 'cxcywh', 'xyxy')


def xyxy_to_box(xyxy: jax.Array, size: tuple[int, int]) -> jax.Array:
  """xyxy pixels [..., 4] -> the course's (bx, by, bh, bw) as fractions of an (H, W) image."""
  h, w = size
  cx, cy, bw, bh = jnp.moveaxis(box_ops.convert(xyxy, 'xyxy', 'cxcywh'), -1, 0)
  return jnp.stack([cx / w, cy / h, bh / h, bw / w], -1)


def encode(boxes: jax.Array, labels: jax.Array, valid: jax.Array, size: tuple[int, int]) -> dict:
  """Targets of the first object slot: boxes [N, S, 4] xyxy px, labels [N, S], valid [N, S]
  -> {'present' [N] bool, 'box' [N, 4] (bx, by, bh, bw) (0.5s where absent), 'label' [N]}."""
  present = valid[:, 0]
  box = jnp.where(present[:, None], xyxy_to_box(boxes[:, 0], size), 0.5)
  return {'present': present, 'box': box, 'label': jnp.where(present, labels[:, 0], 0)}
