"""Output sizes and padding rules for convolution and pooling windows.

The course's size formula, per spatial dim, for input n, filter f, padding p, stride s:

    n_out = floor((n + 2p - f) / s) + 1

With dilation d the filter covers f_eff = d (f - 1) + 1 cells, and with asymmetric padding
(lo, hi) the `2p` becomes `lo + hi`. Every conv/pool formulation in `cnn_jax.ops` resolves its
`padding` argument with `explicit_padding` and so returns exactly `output_size` cells.
"""
from typing import Sequence, Union

# 'VALID' | 'SAME' | int | per-dim ints or (lo, hi) pairs.
Padding = Union[str, int, Sequence[Union[int, tuple[int, int]]]]


def effective_size(f: int, d: int = 1) -> int:
  """Cells covered by a size-`f` window dilated by `d`: f_eff = d (f - 1) + 1."""
  return d * (f - 1) + 1


def output_size(n: int, f: int, p: int | tuple[int, int] = 0, s: int = 1, d: int = 1) -> int:
  """The course's formula n_out = floor((n + 2p - f) / s) + 1 for one spatial dim.

  Args:
    n: input size. f: filter size. p: padding on each side, or a (lo, hi) pair.
    s: stride. d: filter dilation (f is replaced by d (f - 1) + 1).
  Returns:
    The output size (an int >= 0; 0 when the window does not fit at all).
  """
  lo, hi = (p, p) if isinstance(p, int) else p
  return max((n + lo + hi - effective_size(f, d)) // s + 1, 0)


def same_padding(n: int, f: int, s: int = 1, d: int = 1) -> tuple[int, int]:
  """The 'SAME' rule: pad so that n_out = ceil(n / s).

  For odd f and s = 1 that is the course's p = (f - 1) / 2 on both sides; otherwise (even f,
  or stride > 1) the total padding max((n_out - 1) s + f - n, 0) is split TensorFlow's way,
  the extra cell going to the end (hi). Returns (lo, hi).
  """
  n_out = -(-n // s)
  total = max((n_out - 1) * s + effective_size(f, d) - n, 0)
  return total // 2, total - total // 2


def explicit_padding(padding: Padding, in_sizes: Sequence[int], window: Sequence[int],
                     strides: Sequence[int] | None = None,
                     dilation: Sequence[int] | None = None) -> tuple[tuple[int, int], ...]:
  """Resolves a padding spec to one (lo, hi) pair per spatial dim.

  Args:
    padding: 'VALID' (no padding), 'SAME' (see `same_padding`), an int p (p on every side),
      or a sequence with one entry per spatial dim, each an int (both sides) or (lo, hi).
    in_sizes: the spatial input sizes `[*spatial]`.
    window: the window (filter) sizes, same length.
    strides, dilation: per-dim strides and window dilations (default 1).
  Returns:
    `((lo, hi), ...)` with len(in_sizes) pairs of ints.
  """
  rank = len(in_sizes)
  strides = tuple(strides or (1,) * rank)
  dilation = tuple(dilation or (1,) * rank)
  if len(window) != rank or len(strides) != rank or len(dilation) != rank:
    raise ValueError(f'Window {tuple(window)}, strides {strides} and dilation {dilation} must '
                     f'have one entry per spatial dim of {tuple(in_sizes)}.')
  if isinstance(padding, str):
    mode = padding.upper()
    if mode == 'VALID':
      return ((0, 0),) * rank
    if mode == 'SAME':
      return tuple(same_padding(n, f, s, d)
                   for n, f, s, d in zip(in_sizes, window, strides, dilation))
    raise ValueError(f"Unknown padding {padding!r}; use 'VALID', 'SAME', an int or (lo, hi) pairs.")
  if isinstance(padding, int):
    return ((padding, padding),) * rank
  pads = tuple(padding)
  if len(pads) != rank:
    raise ValueError(f'Padding {padding!r} needs one entry per spatial dim ({rank}).')
  out = []
  for p in pads:
    if isinstance(p, int):
      out.append((p, p))
    else:
      lo, hi = p
      out.append((int(lo), int(hi)))
  return tuple(out)


def as_tuple(v: int | Sequence[int] | None, rank: int, name: str = 'value') -> tuple[int, ...]:
  """Broadcasts an int (or None -> 1) to `rank` entries; checks a sequence has `rank`."""
  if v is None:
    v = 1
  if isinstance(v, int):
    return (v,) * rank
  v = tuple(int(i) for i in v)
  if len(v) != rank:
    raise ValueError(f'{name} {v} needs {rank} entries (one per spatial dim).')
  return v
