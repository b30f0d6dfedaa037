"""Real fluorescence nuclei: the 512x512 image and its 125-nucleus instance mask that ship in
the `stardist==0.9.2` wheel (`stardist/data/images/img2d.tif`, `mask2d.tif`), read offline.

    tile = load_tile()            # image float32 [512, 512] in [0, 1]; instances int32 (0 = bg)
    ds = load_nuclei(crop=128, num_train=512, test_quadrant=3)
    ds.train.get(np.arange(4))    # {'image': [4, 128, 128, 1], 'segmentation': [4, 128, 128],
                                  #  'instances', 'weights' (U-Net border weight map)}
    ds.test.get(np.arange(1))     # the held-out 256x256 quadrant

The wheel is fetched once (`weights.fetch`: `pip download --no-deps --only-binary=:all:
stardist==0.9.2`, never installed), each .tif's SHA-256 checked, and cached as
`<cache>/img2d.tif`, `<cache>/mask2d.tif` (<cache> = $CNN_JAX_CACHE or ~/.cache/cnn_jax).
The .tif files are plain uncompressed single-strip greyscale TIFFs (16-bit); `read_tiff`
decodes them with no imaging library (and refuses anything else with a clear error).

Split: the tile's four 256x256 quadrants (0 top-left, 1 top-right, 2 bottom-left,
3 bottom-right); `test_quadrant` is held out. Training examples are `crop` x `crop` windows
lying entirely in the other three quadrants (positions drawn once with `seed`; random
flips / elastic warps are the on-device augmentation's job). Intensities: the 1st and 99.8th
percentiles of the whole tile map to 0 and 1 (clipped), stardist's own normalisation
(it uses no label). The border weight map (`losses.segmentation.border_weight_map`, w0 = 10,
sigma = 5) is computed once on the full tile, so distances near a crop's edge stay right.
"""
import dataclasses
import struct

import numpy as np

from cnn_jax.data.sources import Dataset
from cnn_jax.weights import fetch

CARRIERS = {
    'image': fetch.Carrier('stardist', '0.9.2', 'stardist/data/images/img2d.tif',
                           'f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750'),
    'mask': fetch.Carrier('stardist', '0.9.2', 'stardist/data/images/mask2d.tif',
                          '59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f'),
}
SIZE, QUADRANT = 512, 256
CLASS_NAMES = ('background', 'nucleus')

_TYPES = {3: ('H', 2), 4: ('I', 4)}  # TIFF field types SHORT, LONG
_DTYPES = {(8, 1): np.uint8, (16, 1): np.uint16, (32, 1): np.uint32, (8, 2): np.int8,
           (16, 2): np.int16, (32, 2): np.int32, (32, 3): np.float32}


def read_tiff(data: bytes, what: str = 'TIFF') -> np.ndarray:
  """An uncompressed greyscale baseline TIFF (one image, 1 sample per pixel, 8/16/32-bit,
  any strip layout, either byte order) -> `[H, W]` array of its sample type."""
  order = {b'II': '<', b'MM': '>'}.get(data[:2])
  if order is None or struct.unpack(order + 'H', data[2:4])[0] != 42:
    raise ValueError(f'{what}: not a TIFF (header {data[:4]!r}).')
  ifd = struct.unpack(order + 'I', data[4:8])[0]
  count = struct.unpack(order + 'H', data[ifd:ifd + 2])[0]
  tags = {}
  for i in range(count):
    tag, kind, n, raw = struct.unpack(order + 'HHI4s', data[ifd + 2 + 12 * i:ifd + 14 + 12 * i])
    if kind not in _TYPES:
      continue  # text and rationals (description, resolution) are not needed
    code, size = _TYPES[kind]
    where = raw if n * size <= 4 else data[struct.unpack(order + 'I', raw)[0]:][:n * size]
    tags[tag] = struct.unpack(order + code * n, where[:n * size])
  width, height = tags[256][0], tags[257][0]
  bits, compression = tags.get(258, (1,))[0], tags.get(259, (1,))[0]
  samples, fmt = tags.get(277, (1,))[0], tags.get(339, (1,))[0]
  if compression != 1 or samples != 1 or (bits, fmt) not in _DTYPES:
    raise ValueError(f'{what}: compression {compression}, {samples} samples of {bits} bits '
                     f'(format {fmt}); only uncompressed greyscale 8/16/32-bit is read.')
  dtype = np.dtype(_DTYPES[bits, fmt]).newbyteorder(order)
  strips = b''.join(data[o:o + n] for o, n in zip(tags[273], tags[279]))
  if len(strips) != width * height * dtype.itemsize:
    raise ValueError(f'{what}: {len(strips)} pixel bytes for {width}x{height} x {bits} bits.')
  return np.frombuffer(strips, dtype).reshape(height, width).astype(dtype.newbyteorder('='))


def load_tile(cache=None) -> dict[str, np.ndarray]:
  """{'image': float32 [512, 512] in [0, 1], 'instances': int32 [512, 512] (0 = background,
  1..M the nuclei)}, from the cached (or once downloaded) stardist wheel's .tif files."""
  raw = {k: read_tiff(fetch.fetch(c, cache).read_bytes(), c.filename)
         for k, c in CARRIERS.items()}
  image = raw['image'].astype(np.float32)
  lo, hi = np.percentile(image, (1.0, 99.8))
  return {'image': np.clip((image - lo) / (hi - lo), 0.0, 1.0).astype(np.float32),
          'instances': raw['mask'].astype(np.int32)}


def quadrant_slices(q: int) -> tuple[slice, slice]:
  """(rows, cols) of quadrant q: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right."""
  if q not in (0, 1, 2, 3):
    raise ValueError(f'test_quadrant must be 0, 1, 2 or 3 (TL, TR, BL, BR); got {q}.')
  r, c = divmod(q, 2)
  return slice(r * QUADRANT, (r + 1) * QUADRANT), slice(c * QUADRANT, (c + 1) * QUADRANT)


def crop_positions(num: int, crop: int, test_quadrant: int, seed: int = 0) -> np.ndarray:
  """`[num, 2]` (top, left) of crop x crop windows not touching the test quadrant."""
  if not 0 < crop <= QUADRANT:
    raise ValueError(f'crop must be in 1..{QUADRANT} (one quadrant); got {crop}.')
  rows, cols = quadrant_slices(test_quadrant)
  rng = np.random.default_rng(seed)
  out = []
  while len(out) < num:
    top, left = rng.integers(0, SIZE - crop + 1, 2)
    overlaps = (top < rows.stop and top + crop > rows.start and left < cols.stop
                and left + crop > cols.start)
    if not overlaps:
      out.append((top, left))
  return np.asarray(out, np.int64)


@dataclasses.dataclass
class CropSplit:
  """Examples cut from the tile's full-size arrays at fixed (top, left) positions."""
  arrays: dict[str, np.ndarray]   # image [512, 512, 1], segmentation, instances, weights
  positions: np.ndarray           # [N, 2]
  size: int

  def __len__(self) -> int:
    return len(self.positions)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    s = self.size
    return {k: np.stack([a[t:t + s, l:l + s] for t, l in self.positions[np.asarray(indices)]])
            for k, a in self.arrays.items()}


def load_nuclei(crop: int = 128, num_train: int = 512, test_quadrant: int = 3, seed: int = 0,
                w0: float = 10.0, sigma: float = 5.0, cache=None) -> Dataset:
  """The nuclei tile as a 2-class Dataset (module doc): train = `num_train` crops from three
  quadrants, test = the held-out quadrant (one 256x256 example)."""
  from cnn_jax.losses.segmentation import border_weight_map
  tile = load_tile(cache)
  arrays = {'image': tile['image'][..., None],
            'segmentation': (tile['instances'] > 0).astype(np.int32),
            'instances': tile['instances'],
            'weights': border_weight_map(tile['instances'], w0, sigma)}
  rows, cols = quadrant_slices(test_quadrant)
  train = CropSplit(arrays, crop_positions(num_train, crop, test_quadrant, seed), crop)
  test = CropSplit(arrays, np.array([[rows.start, cols.start]]), QUADRANT)
  return Dataset('nuclei', train, test, 2, CLASS_NAMES)
