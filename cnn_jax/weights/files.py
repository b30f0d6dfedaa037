"""Array files read safely: SHA-256 checks, `.npz` without pickle, `.npy` object arrays
through the restricted unpickler.

    files.verify_sha256(path, 'b0353104...')          # ChecksumError on mismatch
    arrays = files.read_npz(path)                       # {name: array}; allow_pickle=False
    obj = files.read_npy(path)                          # plain or object array (safe_pickle)

SHA-256 is computed in 1 MiB chunks. A torchvision-style file name `<name>-<hex>.pth`
carries a prefix of its own SHA-256 (torch.hub's convention): `hash_prefix_from_name`
extracts it so a user's torchvision file is checked without being told the full digest.
"""
import hashlib
import os
import re

import numpy as np

from cnn_jax.weights import safe_pickle

_HASH_IN_NAME = re.compile(r'-([a-f0-9]{8,64})\.[A-Za-z0-9]+$')


class ChecksumError(ValueError):
  """A file's SHA-256 differs from the expected one (corrupt, truncated or not the file)."""


def sha256(path: str | os.PathLike) -> str:
  """Hex SHA-256 of the file at `path`."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
  """Hex SHA-256 of `data`."""
  return hashlib.sha256(data).hexdigest()


def check_digest(actual: str, expected: str, what: str) -> None:
  """Raises ChecksumError unless `actual` starts with `expected` (a full digest, or the
  prefix a torchvision file name carries; at least 8 hex digits)."""
  expected = expected.lower()
  if len(expected) < 8 or not re.fullmatch(r'[0-9a-f]+', expected):
    raise ValueError(f'Expected SHA-256 {expected!r} must be >= 8 hex digits.')
  if not actual.startswith(expected):
    raise ChecksumError(f'SHA-256 of {what} is {actual}, expected {expected}: the file is '
                        'corrupt, truncated or not the one named. Delete it and fetch again.')


def verify_sha256(path: str | os.PathLike, expected: str) -> str:
  """Checks the file's SHA-256 against `expected` (full or >= 8-digit prefix); returns it."""
  actual = sha256(path)
  check_digest(actual, expected, os.fspath(path))
  return actual


def hash_prefix_from_name(path: str | os.PathLike) -> str | None:
  """'resnet50-0676ba61.pth' -> '0676ba61' (torch.hub's name convention), else None."""
  match = _HASH_IN_NAME.search(os.path.basename(os.fspath(path)))
  return match.group(1) if match else None


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """All arrays of an `.npz` file, read with allow_pickle=False (object arrays refused)."""
  with np.load(path, allow_pickle=False) as archive:
    return {k: archive[k] for k in archive.files}


def read_npy(path: str | os.PathLike) -> np.ndarray:
  """An `.npy` array; an object array (dtype 'O', stored as a pickle) is rebuilt with the
  restricted unpickler, so only arrays and plain containers can come out of it."""
  with open(path, 'rb') as f:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
      shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
      shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    if not dtype.hasobject:
      f.seek(0)
      return np.load(f, allow_pickle=False)
    array = safe_pickle.load(f)
  if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
    raise ValueError(f'{os.fspath(path)}: the pickle does not hold the declared {shape} array.')
  return array
