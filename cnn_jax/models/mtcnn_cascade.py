"""The MTCNN cascade (Zhang et al. 2016) with static shapes: image -> faces, boxes, 5 landmarks.

    variables = models.mtcnn.from_keras(weights.mtcnn.load_mtcnn())
    detect = make_detector(variables)            # jitted once per image size
    faces = detect(image)                        # image uint8 [H, W, 3] RGB (or float in [0, 1])
    faces.boxes[faces.valid], faces.landmarks[faces.valid]

Stages (defaults are MTCNN's: min face 20 px, pyramid factor 0.709, thresholds 0.6/0.7/0.7):
1. Pyramid: scales m * factor^k with m = 12 / min_face, while min(H, W) * scale >= 12; each
   level area-resized to (int(H s + 1), int(W s + 1)). P-Net, fully convolutional, scores every
   12x12 window (stride 2) of each level at once -- the convolutional sliding window. Output
   cell (r, c) with P(face) >= t1 is the window box
       (x1, y1) = floor((2 (c, r) + 1) / s),  (x2, y2) = floor((2 (c, r) + 12) / s)
   kept through NMS (IoU > 0.5) per level, then NMS (IoU > 0.7) over all levels; the boxes are
   moved by P-Net's offsets, b += reg * (w, h, w, h) with w = x2 - x1, and squared ("rerec":
   side max(w, h) about the same centre).
2. R-Net on every candidate's 24x24 crop: keep P > t2, NMS (IoU > 0.7), regression with
   w = x2 - x1 + 1, square again.
3. O-Net on 48x48 crops: keep P > t3; landmarks x = x1 - 1 + w * u, y = y1 - 1 + h * v
   (w = x2 - x1 + 1) from the box before this stage's regression; regression; then NMS by
   intersection over the *minimum* area (IoM > 0.7, areas with +1), which drops a small box
   lying inside a bigger face, something IoU keeps.
Crops take the integer box [trunc(x1) - 1, trunc(x2)) clipped to the image and area-resize it
(`ops.area_resize`), the way facenet-pytorch does (the original zero-pads instead; the two
differ only for boxes crossing the border).

Static shapes: each stage's candidates are padded to a fixed maximum (`Settings`), with a
validity mask; NMS returns its kept boxes best first, so a full buffer keeps the best-scoring
candidates. `Faces.counts` says how many survived each stage, so a saturated limit is visible.
R-Net and O-Net run over their padded batch in chunks of `Settings.chunk` and skip chunks
holding no valid candidate (`lax.cond`; the valid ones come first), so their cost follows the
real candidate count, not the limit (under `vmap` the cond becomes a select: no skipping).
"""
import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cnn_jax.models import mtcnn
from cnn_jax.ops import area_resize
from cnn_jax.ops import nms as nms_ops


@dataclasses.dataclass(frozen=True)
class Settings:
  """Cascade hyper-parameters (MTCNN's defaults) and the static candidate limits."""
  min_face: float = 20.0
  factor: float = 0.709
  thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
  nms_per_scale: float = 0.5
  nms_stage1: float = 0.7
  nms_stage2: float = 0.7
  nms_stage3_min: float = 0.7
  max_windows: int = 1024    # P-Net windows kept after the per-level NMS (all levels)
  max_proposals: int = 512   # stage-1 output = R-Net batch
  max_refined: int = 128     # stage-2 output = O-Net batch
  max_faces: int = 32        # final output
  chunk: int = 32            # R-/O-Net candidates per chunk; chunks with none valid are skipped


class Faces(NamedTuple):
  """boxes `[K, 4]` xyxy px; scores `[K]`; landmarks `[K, 5, 2]` (x, y) px in the order left
  eye, right eye, nose, left mouth corner, right mouth corner; valid `[K]` bool; counts `[3]`
  int32 candidates left after stages 1, 2, 3 (compare with the Settings limits)."""
  boxes: jax.Array
  scores: jax.Array
  landmarks: jax.Array
  valid: jax.Array
  counts: jax.Array


def pyramid_scales(height: int, width: int, min_face: float = 20.0,
                   factor: float = 0.709) -> list[float]:
  """Scales m * factor^k, m = 12 / min_face, while min(H, W) * scale >= 12 (P-Net's window)."""
  if not 0 < factor < 1:
    raise ValueError(f'pyramid factor must be in (0, 1), got {factor}.')
  if min_face <= 0:
    raise ValueError(f'min_face must be > 0, got {min_face}.')
  scales, scale, side = [], 12.0 / min_face, min(height, width) * 12.0 / min_face
  while side >= 12:
    scales.append(scale)
    scale, side = scale * factor, side * factor
  return scales


def rerec(boxes: jax.Array) -> jax.Array:
  """Squares `[N, 4]` boxes about their centres: side max(x2 - x1, y2 - y1)."""
  w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
  side = jnp.maximum(w, h)
  x1 = boxes[:, 0] + (w - side) * 0.5
  y1 = boxes[:, 1] + (h - side) * 0.5
  return jnp.stack([x1, y1, x1 + side, y1 + side], axis=1)


def regress(boxes: jax.Array, reg: jax.Array, plus_one: bool) -> jax.Array:
  """b + reg * (w, h, w, h), w = x2 - x1 (+ 1 in stages 2 and 3, MTCNN's pixel convention)."""
  w = boxes[:, 2] - boxes[:, 0] + (1.0 if plus_one else 0.0)
  h = boxes[:, 3] - boxes[:, 1] + (1.0 if plus_one else 0.0)
  return boxes + reg * jnp.stack([w, h, w, h], axis=1)


def nms_min(boxes: jax.Array, scores: jax.Array, valid: jax.Array, threshold: float,
            max_output_size: int) -> nms_ops.NMSResult:
  """Greedy NMS by intersection over the smaller area (MTCNN's 'Min'): suppress a box when
  inter / min(area_i, area_j) > threshold, with +1-pixel areas (w = x2 - x1 + 1).

  boxes `[N, 4]`, scores `[N]`, valid `[N]` bool -> NMSResult(indices `[K]` -1 padded, count).
  """
  key = jnp.where(valid, scores, -jnp.inf)
  order = jnp.argsort(key, descending=True, stable=True).astype(jnp.int32)
  b, alive = boxes[order], valid[order]
  area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
  positions = jnp.arange(b.shape[0])

  def body(state):
    count, alive, out = state
    j = jnp.argmax(alive)
    iw = jnp.maximum(jnp.minimum(b[j, 2], b[:, 2]) - jnp.maximum(b[j, 0], b[:, 0]) + 1, 0)
    ih = jnp.maximum(jnp.minimum(b[j, 3], b[:, 3]) - jnp.maximum(b[j, 1], b[:, 1]) + 1, 0)
    overlap = iw * ih / jnp.maximum(jnp.minimum(area[j], area), 1e-12)
    alive = alive & ~(overlap > threshold) & (positions != j)
    return count + 1, alive, out.at[count].set(order[j])

  init = (jnp.int32(0), alive, jnp.full((max_output_size,), -1, jnp.int32))
  count, _, out = jax.lax.while_loop(
      lambda s: (s[0] < max_output_size) & jnp.any(s[1]), body, init)
  return nms_ops.NMSResult(out, count)


def _take(result: nms_ops.NMSResult, *arrays):
  """Gathers the kept rows (index 0 where padded) and the validity mask."""
  idx = jnp.maximum(result.indices, 0)
  return (result.mask,) + tuple(a[idx] for a in arrays)


def _regions(boxes, valid, height, width):
  """Integer crop regions `[N, 4]` (x0, y0, x1, y1) of the boxes (module doc) + updated mask."""
  t = jnp.trunc(boxes).astype(jnp.int32)  # C-style truncation towards zero, as the original
  x0, y0 = jnp.maximum(t[:, 0], 1) - 1, jnp.maximum(t[:, 1], 1) - 1
  x1, y1 = jnp.minimum(t[:, 2], width), jnp.minimum(t[:, 3], height)
  return jnp.stack([x0, y0, x1, y1], axis=1), valid & (x1 > x0) & (y1 > y0)


def _net_on_crops(net, variables, integral, regions, valid, size, chunk):
  """`net` on the normalised `size`x`size` crops of `regions`, `chunk` candidates at a time:
  a chunk without a valid candidate is skipped (`lax.cond`), so the cost follows the number
  of real candidates (they come first: NMS output order) while every shape stays static.
  Returns the net's outputs for all N rows (zeros in skipped chunks)."""
  n = regions.shape[0]
  chunk = min(chunk, n)
  padded = -(-n // chunk) * chunk
  regions = jnp.pad(regions, ((0, padded - n), (0, 0)))
  valid = jnp.pad(valid, (0, padded - n))

  def run(r):
    crops = area_resize.crop_resize(integral, r, (size, size))
    return net.apply(variables, (crops - 127.5) * 0.0078125)

  shapes = jax.eval_shape(run, regions[:chunk])
  skip = lambda r: jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
  outs = jax.lax.map(lambda xs: jax.lax.cond(jnp.any(xs[1]), run, skip, xs[0]),
                     (regions.reshape(-1, chunk, 4), valid.reshape(-1, chunk)))
  return jax.tree_util.tree_map(lambda o: o.reshape(padded, *o.shape[2:])[:n], outs)


def check_image(image: jax.Array) -> None:
  """Raises a ValueError naming the fix unless `image` is `[H, W, 3]` with H, W >= 12."""
  shape = tuple(image.shape)
  if len(shape) != 3:
    hint = ' (a batch: call once per image or jax.vmap the detector)' if len(shape) == 4 else ''
    raise ValueError(f'MTCNN takes one RGB image [H, W, 3], got rank {len(shape)} {shape}{hint}.')
  if shape[-1] != 3:
    hint = (' For a grey image repeat it: np.repeat(image, 3, axis=-1).' if shape[-1] == 1 else
            ' Drop the alpha channel: image[..., :3].' if shape[-1] == 4 else '')
    raise ValueError(f'MTCNN takes RGB images with 3 channels, got {shape[-1]} {shape}.{hint}')
  if min(shape[:2]) < 12:
    raise ValueError(f'MTCNN needs H, W >= 12 (P-Net\'s window), got {shape[:2]}.')


def detect(variables: dict, image: jax.Array, settings: Settings = Settings()) -> Faces:
  """The three-stage cascade on one image (module doc). Jittable: shapes depend only on the
  image size and `settings`.

  Args:
    variables: `models.mtcnn.from_keras(...)` ({'pnet', 'rnet', 'onet'} Flax variables).
    image: `[H, W, 3]` RGB, uint8 in [0, 255] or float in [0, 1] (rounded to 8 bits: the
      nets were trained on 8-bit pixels and the integral image is exact on integers).
  Returns: `Faces` padded to settings.max_faces, best score first.
  """
  check_image(image)
  height, width = image.shape[:2]
  if jnp.issubdtype(image.dtype, jnp.floating):
    image = jnp.round(jnp.clip(image, 0, 1) * 255)
  integral = area_resize.integral_image(image)
  t1, t2, t3 = settings.thresholds

  # Stage 1: P-Net over the pyramid.
  boxes, scores, regs, levels = [], [], [], []
  for level, scale in enumerate(pyramid_scales(height, width, settings.min_face,
                                               settings.factor)):
    size = (int(height * scale + 1), int(width * scale + 1))
    pixels = (area_resize.resize(integral, size) - 127.5) * 0.0078125
    prob, reg = mtcnn.PNet().apply(variables['pnet'], pixels[None])
    h_out, w_out = prob.shape[1:]
    r, c = jnp.divmod(jnp.arange(h_out * w_out), w_out)
    corner = jnp.stack([c, r], axis=1).astype(jnp.float32) * 2  # window's top-left, level px
    boxes.append(jnp.concatenate([jnp.floor((corner + 1) / scale),
                                  jnp.floor((corner + 12) / scale)], axis=1))
    scores.append(prob.reshape(-1)), regs.append(reg.reshape(-1, 4))
    levels.append(jnp.full((h_out * w_out,), level, jnp.int32))
  if not boxes:  # image smaller than min_face: no pyramid level
    return _empty(settings.max_faces)
  boxes, scores, regs, levels = (jnp.concatenate(a) for a in (boxes, scores, regs, levels))
  # NMS within each level in one call: shifting level k's boxes right by
  # k * (W + 2 max(H, W) + 64) px (beyond any box of another level; integers, exact in
  # float32) makes cross-level IoU exactly 0.
  shifted = boxes + (levels * (width + 2 * max(height, width) + 64)).astype(
      jnp.float32)[:, None] * jnp.array([1.0, 0.0, 1.0, 0.0])
  keep = nms_ops.nms(shifted, scores, settings.nms_per_scale, settings.max_windows,
                     valid=scores >= t1)
  valid, boxes, scores, regs = _take(keep, boxes, scores, regs)
  keep = nms_ops.nms(boxes, scores, settings.nms_stage1, settings.max_proposals, valid=valid)
  valid, boxes, scores, regs = _take(keep, boxes, scores, regs)
  boxes = rerec(regress(boxes, regs, plus_one=False))
  count1 = jnp.sum(valid)

  # Stage 2: R-Net on 24x24 crops.
  regions, valid = _regions(boxes, valid, height, width)
  scores, regs = _net_on_crops(mtcnn.RNet(), variables['rnet'], integral, regions, valid, 24,
                               settings.chunk)
  valid = valid & (scores > t2)
  keep = nms_ops.nms(boxes, scores, settings.nms_stage2, settings.max_refined, valid=valid)
  valid, boxes, scores, regs = _take(keep, boxes, scores, regs)
  boxes = rerec(regress(boxes, regs, plus_one=True))
  count2 = jnp.sum(valid)

  # Stage 3: O-Net on 48x48 crops, landmarks, IoM NMS.
  regions, valid = _regions(boxes, valid, height, width)
  scores, regs, marks = _net_on_crops(mtcnn.ONet(), variables['onet'], integral, regions,
                                      valid, 48, settings.chunk)
  valid = valid & (scores > t3)
  w = boxes[:, 2:3] - boxes[:, 0:1] + 1
  h = boxes[:, 3:4] - boxes[:, 1:2] + 1
  landmarks = jnp.stack([boxes[:, 0:1] - 1 + w * marks[:, :5],
                         boxes[:, 1:2] - 1 + h * marks[:, 5:]], axis=-1)
  boxes = regress(boxes, regs, plus_one=True)
  keep = nms_min(boxes, scores, valid, settings.nms_stage3_min, settings.max_faces)
  valid, boxes, scores, landmarks = _take(keep, boxes, scores, landmarks)
  zero = lambda a: jnp.where(valid.reshape((-1,) + (1,) * (a.ndim - 1)), a, 0)
  counts = jnp.stack([count1, count2, jnp.sum(valid)]).astype(jnp.int32)
  return Faces(zero(boxes), zero(scores), zero(landmarks), valid, counts)


def pnet_map_size(size: tuple[int, int]) -> tuple[int, int]:
  """P-Net's output map size for an input (H, W): conv3 valid, pool 2x2/2 'same', 2x conv3:
  H' = ceil((H - 2) / 2) - 4."""
  return tuple(-(-(n - 2) // 2) - 4 for n in size)


def _empty(k: int) -> Faces:
  return Faces(jnp.zeros((k, 4)), jnp.zeros((k,)), jnp.zeros((k, 5, 2)),
               jnp.zeros((k,), bool), jnp.zeros((3,), jnp.int32))


def make_detector(variables: dict, settings: Settings = Settings(), *, batched: bool = False,
                  compiler_options: dict | None = None):
  """`detect` jitted, the weights passed as arguments (not baked-in constants):
  `fn(image [H, W, 3]) -> Faces`, or with `batched=True` `fn(images [B, H, W, 3])` -> Faces
  with a leading B axis (vmapped). One compile per image size and dtype."""
  fn = functools.partial(detect, settings=settings)
  if batched:
    fn = jax.vmap(fn, in_axes=(None, 0))
  jitted = jax.jit(fn, compiler_options=compiler_options)
  return lambda image: jitted(variables, image)
