"""Real photos with per-pixel class masks: the 3 Pascal VOC 2011 photos of the labelme==7.9.1
source archive (`examples/semantic_segmentation/data_dataset_voc/`: JPEGImages/*.jpg and the
class masks labelme rasterised from its polygons, SegmentationClassNpy/*.npy).

    ds = load_voc_masks(size=(64, 96))
    ds.train.get(np.arange(3))   # {'image': uint8 [3, 64, 96, 3],
                                 #  'segmentation': int32 [3, 64, 96]}

21 classes: 0 background, 1..20 the VOC classes (the archive's class_names.txt). labelme marks
'__ignore__' pixels (object borders drawn as don't-care) with -1; they become IGNORE = 255,
the VOC convention (config.loss.ignore_index=255). Three photos are far too few to learn
from: train and test are the same three (an overfit check of the whole segmentation path).

Resizing to `size` (H, W): the photo by Pillow's bilinear filter, the mask by nearest
neighbour (a class id must not be interpolated). The archive is fetched once, SHA-256 checked
and cached (`data.annotations.labelme_files`).
"""
import dataclasses
import io

import numpy as np

from cnn_jax.data.sources import Dataset

IDS = ('2011_000003', '2011_000006', '2011_000025')
ROOT = 'semantic_segmentation/data_dataset_voc/'
IGNORE = 255


@dataclasses.dataclass
class MaskSplit:
  """Photos uint8 `[N, H, W, 3]` and class masks int32 `[N, H, W]`."""
  images: np.ndarray
  masks: np.ndarray

  def __len__(self) -> int:
    return len(self.images)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {'image': self.images[indices], 'segmentation': self.masks[indices]}


def load_voc_masks(size: tuple[int, int] = (64, 96), cache=None) -> Dataset:
  """The 3 photos resized to `size` (H, W) with their masks (module doc); train = test."""
  from PIL import Image
  from cnn_jax.data import annotations
  members = [ROOT + 'class_names.txt'] + [f'{ROOT}{d}/{i}.{e}' for i in IDS for d, e in
                                          (('JPEGImages', 'jpg'), ('SegmentationClassNpy', 'npy'))]
  files = annotations.labelme_files(members, cache)
  names = tuple(files[ROOT + 'class_names.txt'].decode().splitlines())
  h, w = size
  images, masks = [], []
  for i in IDS:
    with Image.open(io.BytesIO(files[f'{ROOT}JPEGImages/{i}.jpg'])) as photo:
      full = photo.size[::-1]
      image = np.asarray(photo.convert('RGB').resize((w, h), Image.BILINEAR))
    mask = np.load(io.BytesIO(files[f'{ROOT}SegmentationClassNpy/{i}.npy']))
    if mask.shape != full:
      raise ValueError(f'{ROOT}SegmentationClassNpy/{i}.npy: mask size {mask.shape} differs '
                       f'from its photo\'s {full}.')
    bad = (mask < -1) | (mask >= len(names))
    if bad.any():
      where = tuple(int(v) for v in np.argwhere(bad)[0])
      raise ValueError(f'{ROOT}SegmentationClassNpy/{i}.npy: label value {mask[where]} at pixel '
                       f'{where} is outside [0, {len(names)}) (class_names.txt) and not -1 '
                       '(ignore).')
    # Nearest neighbour at the output pixel centres (Pillow's NEAREST rounds differently
    # for int32 'I' images; this is exact and explicit).
    rows = ((np.arange(h) + 0.5) * mask.shape[0] / h).astype(np.int64)
    cols = ((np.arange(w) + 0.5) * mask.shape[1] / w).astype(np.int64)
    mask = mask[rows][:, cols]
    images.append(image)
    masks.append(np.where(mask < 0, IGNORE, mask).astype(np.int32))
  split = MaskSplit(np.stack(images), np.stack(masks))
  return Dataset('voc_masks', split, split, len(names), ('background', *names[1:]))
