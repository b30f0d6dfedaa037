"""Labeled Faces in the Wild through TFDS (`lfw`), for users who have it prepared: 13,233
photos of 5,749 people, 250x250 RGB, the person's name as the label; TFDS has one split,
'train'.

    ds = load_lfw(data_dir, min_images=2, test_fraction=0.3, seed=0)
    ds.train.labels      # int32 identities, for data.pk_sampler.PKSampler / data.pairs
    ds.train.get(idx)    # {'image': uint8 [n, 250, 250, 3] (or cropped), 'label': int32 [n]}

People with fewer than `min_images` photos are left out (4,069 people have only one: they
can be neither a positive nor an anchor); the rest are split by person, a seeded shuffle of
the names putting `test_fraction` of them in the test split, so test people are never seen
in training (the protocol of tasks/face_embedding.py). Identities are numbered over the kept
people in name order; class_names holds the names. `crop` > 0 keeps the central crop x crop
pixels (LFW's faces sit in the middle ~110 px; no alignment is done here).

Nothing is downloaded at run time: `tfds build lfw --file_format=array_record` where there is
network, then point config.data.dir (or TFDS_DATA_DIR) at that data dir.
"""
import dataclasses

import numpy as np

from cnn_jax.data.dataset import Dataset, DatasetNotFoundError

SIZE = 250


class _LazyImages:
  """`images[indices]` -> uint8 [n, H, W, 3] read (and cropped) from the data source."""

  def __init__(self, source, rows: np.ndarray, crop: int):
    self.source, self.rows, self.crop = source, rows, crop

  def __len__(self) -> int:
    return len(self.rows)

  def __getitem__(self, indices) -> np.ndarray:
    out = []
    for i in np.atleast_1d(np.asarray(indices)):
      image = np.asarray(self.source[int(self.rows[int(i)])]['image'])
      if self.crop:
        top, left = (image.shape[0] - self.crop) // 2, (image.shape[1] - self.crop) // 2
        image = image[top:top + self.crop, left:left + self.crop]
      out.append(image)
    return np.stack(out)


@dataclasses.dataclass
class LfwSplit:
  """Photos `rows` of the TFDS source with identities `labels` int32 [n]; `images` is a lazy
  indexable view (what data.pairs.PairSplit reads)."""
  images: _LazyImages
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.labels)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {'image': self.images[indices], 'label': self.labels[np.asarray(indices)]}


def _name(label) -> str:
  return label.decode() if isinstance(label, bytes) else str(label)


def load_lfw(data_dir: str = '', min_images: int = 2, test_fraction: float = 0.3,
             seed: int = 0, crop: int = 0) -> Dataset:
  """The prepared TFDS `lfw` split by person (module doc)."""
  if min_images < 1:
    raise ValueError(f'min_images={min_images} must be >= 1.')
  if not 0 < test_fraction < 1:
    raise ValueError(f'test_fraction={test_fraction} must be between 0 and 1.')
  if not 0 <= crop <= SIZE:
    raise ValueError(f'crop={crop} must be in 0..{SIZE} (0: the whole photo).')
  import tensorflow_datasets as tfds
  try:
    source = tfds.data_source('lfw', split='train', data_dir=data_dir or None, download=False)
  except Exception as e:  # tfds raises AssertionError / DatasetNotFoundError / ValueError
    raise DatasetNotFoundError(
        f"TFDS dataset 'lfw' is not prepared in {data_dir or 'the default TFDS data dir'} "
        f'({type(e).__name__}: {e}). Prepare it where there is network with `tfds build lfw '
        '--file_format=array_record`, copy the data dir here and set config.data.dir (or '
        "TFDS_DATA_DIR). Offline alternative: data.name='orl'.") from None
  # One pass over the labels (names). Images are decoded only when a batch asks for them.
  names = np.array([_name(source[i]['label']) for i in range(len(source))])
  people, counts = np.unique(names, return_counts=True)
  kept = people[counts >= min_images]
  if len(kept) < 2:
    raise ValueError(f'Only {len(kept)} people in lfw have >= {min_images} photos; at least 2 '
                     'are needed (lower min_images).')
  n_test = int(round(test_fraction * len(kept)))
  if not 1 <= n_test < len(kept):
    raise ValueError(f'test_fraction={test_fraction} of {len(kept)} people leaves an empty '
                     'split; change it or min_images.')
  test_people = set(np.random.default_rng(seed).permutation(kept)[:n_test])
  identity = {name: i for i, name in enumerate(kept)}  # kept is sorted: name order

  def split(chosen) -> LfwSplit:
    rows = np.flatnonzero([n in identity and (n in test_people) == chosen for n in names])
    return LfwSplit(_LazyImages(source, rows, crop),
                    np.array([identity[n] for n in names[rows]], np.int32))

  return Dataset('lfw', split(False), split(True), len(kept), tuple(kept))
