"""A restricted unpickler: rebuilds arrays and plain containers, refuses everything else.

A pickle is a program for a small stack machine whose GLOBAL / STACK_GLOBAL / INST / OBJ /
EXT opcodes import any `module.name` and whose REDUCE opcode calls it: `pickle.load` on a
hostile file runs `os.system(...)`. Every import goes through `Unpickler.find_class`, so this
unpickler answers it from a fixed table and raises `UnsafePickleError` naming the global for
anything not in it. Apart from OrderedDict the table never hands out the real global: each
allowed name maps to a stand-in written here (which also refuses BUILD, so a pickle cannot
alter it), so nothing from torch is imported (torch need not even be installed):

    collections.OrderedDict                  -> collections.OrderedDict (a dict; BUILD may
                                                set its attributes, torch's `_metadata`)
    torch._utils._rebuild_tensor_v2 / _v3,   -> `TensorRef` (storage, offset, size, stride):
      torch._utils._rebuild_tensor               a recipe the file reader materialises
    torch._utils._rebuild_parameter          -> returns its data (a Parameter is a tensor)
    torch.{Float,Double,Half,BFloat16,Long,  -> `StorageType` (numpy dtype of the storage)
      Int,Short,Char,Byte,Bool}Storage
    numpy.core.multiarray._reconstruct       -> `_reconstruct`: an empty np.ndarray only
      (and numpy._core.multiarray)               (its BUILD state fills it: numpy's setstate)
    numpy.ndarray                            -> a token only `_reconstruct` accepts
    numpy.dtype                              -> `_dtype`: np.dtype from a type string
    numpy.core.multiarray.scalar             -> `_scalar`: a numpy scalar from its bytes
    _codecs.encode                           -> `_latin1`: str -> bytes, latin-1 only
                                                (how protocol-2 pickles spell bytes)

Object arrays (dtype 'O', MTCNN's .npy) hold only what the same restricted pickle built.
Persistent ids (torch's storages) go to the `persistent_load` callback the caller passes.

    obj = safe_pickle.loads(data)                      # plain pickle bytes
    obj = safe_pickle.load(fileobj, persistent_load=f) # torch's data.pkl
"""
import codecs
import collections
import dataclasses
import io
import pickle
from typing import Any, Callable

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
  """The pickle names a global outside the allow-list; nothing from it was executed."""


class _Sealed:
  """Refuses the pickle BUILD opcode, which would otherwise set attributes on a stand-in
  (and so change it for every later load)."""
  __slots__ = ()

  def __setstate__(self, state):
    raise UnsafePickleError(f'Refusing to BUILD (set state on) {self!r}.')


class StandIn(_Sealed):
  """A callable stand-in for an allowed global: `name` for messages, `fn` what it does."""
  __slots__ = ('name', 'fn')

  def __init__(self, name: str, fn: Callable):
    object.__setattr__(self, 'name', name)
    object.__setattr__(self, 'fn', fn)

  def __call__(self, *args):
    return self.fn(*args)

  def __setattr__(self, key, value):
    raise UnsafePickleError(f'Refusing to set {key!r} on {self!r}.')

  def __repr__(self):
    return f'<allowed global {self.name}>'


class StorageType(_Sealed):
  """Stand-in for a `torch.<X>Storage` class: only records the element dtype."""
  __slots__ = ('name', 'dtype')

  def __init__(self, name: str, dtype: np.dtype):
    object.__setattr__(self, 'name', name)
    object.__setattr__(self, 'dtype', np.dtype(dtype))

  def __setattr__(self, key, value):
    raise UnsafePickleError(f'Refusing to set {key!r} on {self!r}.')

  def __repr__(self):
    return f'<torch.{self.name} stand-in, dtype {self.dtype}>'


@dataclasses.dataclass
class TensorRef:
  """Stand-in for a torch tensor: `size`/`stride` in elements into `storage` from `offset`.

  `storage` is whatever the reader's persistent_load returned for the storage id.
  """
  storage: Any
  offset: int
  size: tuple[int, ...]
  stride: tuple[int, ...]

  def __setstate__(self, state):
    raise UnsafePickleError('Refusing to BUILD (set state on) a tensor.')


# torch storage class name -> numpy dtype. bfloat16 has no numpy dtype: its 2-byte words are
# kept as uint16 under the name 'bfloat16' and widened to float32 by the reader.
TORCH_STORAGES = {
    'FloatStorage': np.float32, 'DoubleStorage': np.float64, 'HalfStorage': np.float16,
    'BFloat16Storage': np.uint16, 'LongStorage': np.int64, 'IntStorage': np.int32,
    'ShortStorage': np.int16, 'CharStorage': np.int8, 'ByteStorage': np.uint8,
    'BoolStorage': np.bool_,
}


def _rebuild_tensor(storage, storage_offset, size, stride, *unused) -> TensorRef:
  """torch._utils._rebuild_tensor{,_v2,_v3}(storage, offset, size, stride, ...): the extra
  arguments (requires_grad, backward_hooks, metadata, dtype) do not change the values."""
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if len(size) != len(stride):
    raise pickle.UnpicklingError(f'tensor size {size} and stride {stride} differ in rank')
  return TensorRef(storage, int(storage_offset), size, stride)


def _rebuild_parameter(data, requires_grad=None, backward_hooks=None, *unused):
  """torch._utils._rebuild_parameter: an nn.Parameter is its tensor."""
  return data


def _ndarray(*args):
  raise UnsafePickleError('numpy.ndarray may only be named as _reconstruct\'s first argument.')


def _reconstruct(subtype, shape, dtype):
  """numpy.core.multiarray._reconstruct(ndarray, shape, dtype): an empty base array that
  the following BUILD (numpy's ndarray.__setstate__) fills. Only plain ndarray."""
  if subtype is not NDARRAY:
    raise UnsafePickleError(f'_reconstruct of {subtype!r}: only numpy.ndarray is allowed')
  return np.ndarray(tuple(int(s) for s in shape), np.dtype(dtype))


def _dtype(spec, align=False, copy=False):
  """numpy.dtype(spec, align, copy) from a type string such as 'f4' or 'O' (BUILD then sets
  byte order and flags through numpy's dtype.__setstate__)."""
  if not isinstance(spec, str):
    raise UnsafePickleError(f'numpy.dtype({spec!r}): only dtype strings are allowed')
  return np.dtype(spec, bool(align), bool(copy))


def _scalar(dtype, data=None):
  """numpy.core.multiarray.scalar(dtype, bytes): a numpy scalar (no object dtype)."""
  dtype = np.dtype(dtype)
  if dtype.hasobject or not isinstance(data, bytes):
    raise UnsafePickleError(f'numpy scalar of dtype {dtype} from {type(data).__name__}')
  return np.frombuffer(data, dtype, count=1)[0]


def _latin1(text, encoding='latin1'):
  """_codecs.encode(text, 'latin1'): protocol-2 pickles spell bytes this way. No other
  codec is reachable (a codec lookup can reach third-party codec registrations)."""
  if not isinstance(text, str) or codecs.lookup(encoding).name != 'iso8859-1':
    raise UnsafePickleError(f'_codecs.encode with {encoding!r}: only latin-1 text is allowed')
  return text.encode('latin-1')


NDARRAY = StandIn('numpy.ndarray', _ndarray)
ALLOWED: dict[tuple[str, str], Any] = {
    ('collections', 'OrderedDict'): collections.OrderedDict,
    **{('torch._utils', f): StandIn(f'torch._utils.{f}', _rebuild_tensor)
       for f in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3')},
    ('torch._utils', '_rebuild_parameter'): StandIn('torch._utils._rebuild_parameter',
                                                    _rebuild_parameter),
    **{('torch', name): StorageType(name, dt) for name, dt in TORCH_STORAGES.items()},
    **{(f'numpy.{core}.multiarray', '_reconstruct'): StandIn('numpy.core.multiarray._reconstruct',
                                                             _reconstruct)
       for core in ('core', '_core')},
    **{(f'numpy.{core}.multiarray', 'scalar'): StandIn('numpy.core.multiarray.scalar', _scalar)
       for core in ('core', '_core')},
    ('numpy', 'ndarray'): NDARRAY,
    ('numpy', 'dtype'): StandIn('numpy.dtype', _dtype),
    ('_codecs', 'encode'): StandIn('_codecs.encode', _latin1),
}


def allowed_names() -> list[str]:
  """'module.name' of every global a pickle may name."""
  return sorted(f'{m}.{n}' for m, n in ALLOWED)


class RestrictedUnpickler(pickle.Unpickler):
  """`pickle.Unpickler` whose globals come from `ALLOWED` (stand-ins) or raise.

  Args:
    file: a binary file object positioned at the pickle.
    persistent_load: callback for persistent ids (torch storages); None rejects them.
  """

  def __init__(self, file, persistent_load: Callable[[Any], Any] | None = None):
    super().__init__(file, encoding='latin1')
    self._persistent = persistent_load

  def find_class(self, module: str, name: str):
    try:
      return ALLOWED[(module, name)]
    except KeyError:
      raise UnsafePickleError(
          f'Refusing to load global {module}.{name}: this file would import (and could call) '
          f'it. Only arrays and plain containers are read; allowed globals: '
          f'{", ".join(allowed_names())}.') from None

  def persistent_load(self, pid):
    if self._persistent is None:
      raise UnsafePickleError(f'Unexpected persistent id {pid!r} in a plain pickle.')
    return self._persistent(pid)


def load(file, persistent_load: Callable[[Any], Any] | None = None) -> Any:
  """Unpickles one object from binary `file` with the restricted unpickler."""
  return RestrictedUnpickler(file, persistent_load).load()


def loads(data: bytes, persistent_load: Callable[[Any], Any] | None = None) -> Any:
  """Unpickles `data` (bytes) with the restricted unpickler."""
  return load(io.BytesIO(data), persistent_load)
