"""PyTorch checkpoint files (`torch.save` of a state dict) -> {name: numpy array}, no torch.

Two container formats exist, and torchvision's weight files use both:

  zip (torch >= 1.6): `<root>/data.pkl` pickles the object; each tensor storage is the raw
    little-endian bytes of member `<root>/data/<key>`, named by the persistent id
    ('storage', StorageType, key, location, numel).
  legacy (torch < 1.6; e.g. `mobilenet_v2-b0353104.pth`): five pickles back to back — magic
    number 0x1950a86a20f9469cfc6c, protocol version 1001, system info (byte order), the
    object with persistent ids ('storage', StorageType, root_key, location, numel,
    view_metadata), the list of storage keys — then for each key an int64 element count
    and the storage's raw bytes.

Every pickle goes through `safe_pickle` (torch's classes are stand-ins, anything else is
refused); a tensor is then `as_strided(storage, size, stride, offset)` copied into its own
array. bfloat16 storages are widened to float32 (numpy has no bfloat16).

    state = torch_file.load_state_dict('mobilenet_v2-b0353104.pth')  # {'features.0.0.weight': ...}
"""
import io
import os
import struct
import zipfile
from typing import Any, BinaryIO

import numpy as np

from cnn_jax.weights import safe_pickle
from cnn_jax.weights.safe_pickle import StorageType, TensorRef

LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001


class TorchFileError(ValueError):
  """The file is not a readable PyTorch checkpoint (or not a state dict)."""


class _Storage:
  """A storage's elements (`data`, 1-D numpy), filled now (zip) or after the pickle (legacy)."""

  def __init__(self, stype: StorageType, numel: int, data: np.ndarray | None = None):
    self.stype, self.numel, self.data = stype, int(numel), data


class _View:
  """Legacy storage view: `numel` elements of `root` from element `offset`."""

  def __init__(self, root: _Storage, offset: int, numel: int):
    self.root, self.offset, self.numel = root, int(offset), int(numel)


def _check_pid(pid) -> tuple:
  if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == 'storage'
          and isinstance(pid[1], StorageType)):
    raise TorchFileError(f'Unexpected persistent id {pid!r}: not a torch storage.')
  return pid


def _elements(raw: bytes, stype: StorageType, numel: int, key: str) -> np.ndarray:
  size = numel * stype.dtype.itemsize
  if len(raw) < size:
    raise TorchFileError(f'Storage {key!r} holds {len(raw)} bytes; {stype.name} of {numel} '
                         f'elements needs {size}.')
  return np.frombuffer(raw, stype.dtype.newbyteorder('<'), count=numel)


def _materialise(obj: Any) -> Any:
  """Replaces every `TensorRef` in nested dicts/lists/tuples by a numpy array (a copy)."""
  if isinstance(obj, TensorRef):
    storage, offset = obj.storage, obj.offset
    if isinstance(storage, _View):
      storage, offset = storage.root, offset + storage.offset
    if not isinstance(storage, _Storage) or storage.data is None:
      raise TorchFileError(f'Tensor of size {obj.size} refers to a missing storage.')
    data = storage.data
    extent = offset + sum((n - 1) * s for n, s in zip(obj.size, obj.stride)) + 1
    if 0 in obj.size:
      return np.zeros(obj.size, data.dtype)
    if offset < 0 or min(obj.stride, default=0) < 0 or extent > data.size:
      raise TorchFileError(f'Tensor size {obj.size} stride {obj.stride} offset {offset} '
                           f'reaches past its storage of {data.size} elements.')
    item = data.itemsize
    out = np.lib.stride_tricks.as_strided(data[offset:], obj.size,
                                          tuple(s * item for s in obj.stride)).copy()
    if storage.stype.name == 'BFloat16Storage':  # upper half of a float32
      out = (out.astype(np.uint32) << 16).view(np.float32)
    return out.astype(out.dtype.newbyteorder('='))
  if isinstance(obj, dict):
    out = type(obj)() if type(obj) is not dict else {}
    for k, v in obj.items():
      out[k] = _materialise(v)
    return out
  if isinstance(obj, (list, tuple)):
    return type(obj)(_materialise(v) for v in obj)
  return obj


def _load_zip(archive: zipfile.ZipFile) -> Any:
  pickles = [n for n in archive.namelist() if n.endswith('data.pkl') and n.count('/') == 1]
  if len(pickles) != 1:
    raise TorchFileError(f'Zip holds {len(pickles)} <root>/data.pkl members; not a torch file.')
  root = pickles[0][:-len('data.pkl')]
  names = set(archive.namelist())
  if f'{root}byteorder' in names and archive.read(f'{root}byteorder').strip() != b'little':
    raise TorchFileError('Big-endian torch files are not supported.')
  storages: dict[str, _Storage] = {}

  def persistent_load(pid):
    _, stype, key, _location, numel = _check_pid(pid)[:5]
    if key not in storages:
      member = f'{root}data/{key}'
      if member not in names:
        raise TorchFileError(f'Storage {key!r} ({member}) is missing from the zip.')
      storages[key] = _Storage(stype, numel, _elements(archive.read(member), stype, numel, key))
    return storages[key]

  return _materialise(safe_pickle.loads(archive.read(pickles[0]), persistent_load))


def _load_legacy(f: BinaryIO) -> Any:
  if safe_pickle.load(f) != LEGACY_MAGIC:
    raise TorchFileError('Not a PyTorch file: neither a zip nor the legacy magic number.')
  if safe_pickle.load(f) != LEGACY_PROTOCOL:
    raise TorchFileError('Unsupported legacy PyTorch protocol version.')
  info = safe_pickle.load(f)
  if isinstance(info, dict) and not info.get('little_endian', True):
    raise TorchFileError('Big-endian torch files are not supported.')
  storages: dict[str, _Storage] = {}

  def persistent_load(pid):
    _, stype, key, _location, numel, *view = _check_pid(pid)
    root = storages.setdefault(key, _Storage(stype, numel))
    view = view[0] if view else None
    if view is not None:  # (view_key, offset, view_size)
      return _View(root, view[1], view[2])
    return root

  obj = safe_pickle.load(f, persistent_load)
  keys = safe_pickle.load(f)
  if not isinstance(keys, list) or set(keys) != set(storages):
    raise TorchFileError('Storage key list does not match the storages the object uses.')
  for key in keys:
    storage = storages[key]
    (numel,) = struct.unpack('<q', f.read(8))
    size = numel * storage.stype.dtype.itemsize
    storage.data = _elements(f.read(size), storage.stype, numel, key)
    storage.numel = numel
  return _materialise(obj)


def load(source: str | os.PathLike | bytes) -> Any:
  """Reads a `torch.save` file (path or bytes) safely; tensors become numpy arrays.

  Raises TorchFileError for non-torch files, safe_pickle.UnsafePickleError for a pickle that
  names anything but tensors, storages and plain containers.
  """
  data = source if isinstance(source, bytes) else open(source, 'rb').read()
  if data[:4] == b'PK\x03\x04':
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
      return _load_zip(archive)
  if data[:1] == b'\x80':
    return _load_legacy(io.BytesIO(data))
  raise TorchFileError('Not a PyTorch file (neither a zip nor a pickle); tar-format files '
                       '(torch < 0.4) are not supported.')


def load_state_dict(source: str | os.PathLike | bytes) -> dict[str, np.ndarray]:
  """A state dict {name: array} from a torch file: the file's top-level dict, or its
  'state_dict' / 'model' entry when it is a training checkpoint. Non-array entries are an
  error naming them."""
  obj = load(source)
  if isinstance(obj, dict) and not any(isinstance(v, np.ndarray) for v in obj.values()):
    for key in ('state_dict', 'model', 'model_state_dict'):
      if isinstance(obj.get(key), dict):
        obj = obj[key]
        break
  if not isinstance(obj, dict):
    raise TorchFileError(f'The file holds a {type(obj).__name__}, not a state dict.')
  bad = sorted(k for k, v in obj.items() if not isinstance(v, np.ndarray))
  if bad:
    raise TorchFileError(f'State-dict entries that are not tensors: {bad}.')
  return dict(obj)
