"""torchvision state-dict key -> cnn_jax variable path: the one-to-one rule the zoo is built on.

Test helper only (the real converter is `cnn_jax.weights`, issue 4). For a key split on '.':

    *path, 'weight'  4-D [O, I, kh, kw] -> ('params', *path, 'kernel')  [kh, kw, I, O]
    *path, 'weight'  2-D [out, in]      -> ('params', *path, 'kernel')  [in, out]
    *path, 'weight'  1-D (batch norm)   -> ('params', *path, 'scale')
    *path, 'bias'                       -> ('params', *path, 'bias')
    *path, 'running_mean' / 'running_var' -> ('batch_stats', *path, 'mean' / 'var')
    *path, 'num_batches_tracked'        -> nothing (Flax's BatchNorm keeps no counter)
"""
import numpy as np

_KERNEL_PERMUTATION = {4: (2, 3, 1, 0), 2: (1, 0)}


def flax_path(key: str, ndim: int) -> tuple[str, ...] | None:
  """The Flax variable path (collection first) of torchvision state-dict entry `key`."""
  *path, leaf = key.split('.')
  if leaf == 'num_batches_tracked':
    return None
  if leaf in ('running_mean', 'running_var'):
    return ('batch_stats', *path, leaf[len('running_'):])
  if leaf == 'weight':
    return ('params', *path, 'kernel' if ndim in _KERNEL_PERMUTATION else 'scale')
  if leaf == 'bias':
    return ('params', *path, 'bias')
  raise KeyError(f'No rule for torchvision key {key!r}.')


def flax_shape(shape) -> tuple[int, ...]:
  """The shape the entry takes in Flax (OIHW -> HWIO, (out, in) -> (in, out))."""
  perm = _KERNEL_PERMUTATION.get(len(shape))
  return tuple(shape[i] for i in perm) if perm else tuple(shape)


def to_flax_variables(state_dict: dict) -> dict:
  """Nested {'params': ..., 'batch_stats': ...} numpy tree from a torchvision state dict."""
  out: dict = {}
  for key, value in state_dict.items():
    value = np.asarray(value)
    path = flax_path(key, value.ndim)
    if path is None:
      continue
    perm = _KERNEL_PERMUTATION.get(value.ndim) if path[-1] == 'kernel' else None
    node = out
    for p in path[:-1]:
      node = node.setdefault(p, {})
    node[path[-1]] = np.transpose(value, perm) if perm else value
  return out


def flatten(tree: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], tuple[int, ...]]:
  """{path: shape} of every leaf of a nested dict of arrays / ShapeDtypeStructs."""
  flat = {}
  for k, v in tree.items():
    if isinstance(v, dict) or hasattr(v, 'items'):
      flat.update(flatten(dict(v), prefix + (k,)))
    else:
      flat[prefix + (k,)] = tuple(v.shape)
  return flat
