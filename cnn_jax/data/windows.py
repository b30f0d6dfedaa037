"""Training windows for a sliding-window digit detector, cut from detection canvases.

    ds = load(num_canvases=(3000, 600))     # sources.Dataset: 28x28x1 uint8 windows, 11 classes
    ds.train.get(np.array([0, 1]))           # {'image': [2, 28, 28, 1], 'label': [2]}

Classes 0..9 are digits, 10 is 'background'. From each canvas (`data.canvases`, train
canvases from train digits and test canvases from test digits, so the splits share no digit):
- one positive per digit: the window centred on its ink box, jittered by U{-2..2} px in x and
  y (the window classifier then tolerates the 4-px stride of the convolutional version);
- `negatives` background windows at random positions where no digit has more than
  `max_cover` of its ink box inside the window (a partly visible digit is still background,
  so the scores peak where a digit is centred, not wherever ink is).
Windows that are neither (a digit well inside but off-centre) are not used.
"""
import numpy as np

from cnn_jax.data import canvases, sources

WINDOW = 28
BACKGROUND = 10
CLASS_NAMES = tuple(str(d) for d in range(10)) + ('background',)
CANVAS = canvases.CanvasConfig(size=(64, 64), objects=(0, 2), scale=(0.9, 1.1), fragments=3,
                               noise=0.03, texture=0.3)


def cover(window: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  """Fraction of each box `[N, 4]` inside the xyxy window `[4]`."""
  w = np.clip(np.minimum(window[2], boxes[:, 2]) - np.maximum(window[0], boxes[:, 0]), 0, None)
  h = np.clip(np.minimum(window[3], boxes[:, 3]) - np.maximum(window[1], boxes[:, 1]), 0, None)
  area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
  return w * h / np.maximum(area, 1e-6)


def cut_windows(canvas: dict, rng: np.random.Generator, negatives: int = 2,
                max_cover: float = 0.35) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Windows `[M, 28, 28, C]` uint8, labels `[M]` int32 and origins `[M, 3]` int (canvas, x, y
  of the top-left corner) from a canvases batch (module doc)."""
  images, labels, origins = [], [], []
  height, width = canvas['image'].shape[1:3]
  limit = np.array([width - WINDOW, height - WINDOW])
  for b in range(canvas['image'].shape[0]):
    boxes = canvas['boxes'][b][canvas['valid'][b]]
    for box, label in zip(boxes, canvas['labels'][b][canvas['valid'][b]]):
      centre = (box[:2] + box[2:]) / 2 + rng.integers(-2, 3, 2)
      x, y = np.clip(np.round(centre - WINDOW / 2).astype(int), 0, limit)
      images.append(canvas['image'][b, y:y + WINDOW, x:x + WINDOW]), labels.append(label)
      origins.append((b, x, y))
    found = 0
    for _ in range(50 * negatives):  # rejection sampling; canvases are mostly background
      if found == negatives:
        break
      x, y = rng.integers(0, limit + 1)
      if len(boxes) and cover(np.array([x, y, x + WINDOW, y + WINDOW]), boxes).max() > max_cover:
        continue
      images.append(canvas['image'][b, y:y + WINDOW, x:x + WINDOW]), labels.append(BACKGROUND)
      origins.append((b, x, y))
      found += 1
  return np.stack(images), np.asarray(labels, np.int32), np.asarray(origins, np.int64)


def load(num_canvases: tuple[int, int] = (3000, 600), seed: int = 0,
         canvas: canvases.CanvasConfig = CANVAS, negatives: int = 2) -> sources.Dataset:
  """Train / test window splits (module doc) as a `sources.Dataset` with 11 classes."""
  if min(canvas.size) < WINDOW or canvas.sides[1] > WINDOW + 4:
    raise ValueError(f'Canvases of {canvas.size} with digit sides up to {canvas.sides[1]} px: '
                     f'need a canvas >= {WINDOW} px and digits <= {WINDOW + 4} px for '
                     f'{WINDOW}x{WINDOW} windows.')
  splits = []
  for k, (split, num) in enumerate(zip(('train', 'test'), num_canvases)):
    batch = canvases.generate(canvas, split, num, seed)
    images, labels, _ = cut_windows(batch, np.random.default_rng([seed, k]), negatives)
    splits.append(sources.ArraySplit(images, labels))
  return sources.Dataset('windows', splits[0], splits[1], len(CLASS_NAMES), CLASS_NAMES)
