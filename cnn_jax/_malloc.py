"""Keep XLA:CPU's big buffers in the heap between steps (glibc `mallopt`, standard library only).

XLA:CPU allocates each run's temporaries (one buffer, often 100-500 MB for a train step) and
outputs with malloc and frees them when the run ends. glibc serves allocations over 32 MB, and
any large one made by a worker thread (XLA's threads get their own malloc arenas), with a
fresh `mmap` and returns them with `munmap`, so every step touches its whole temporary buffer
as new pages: one page fault per 4 KiB (MobileNetV2's small-input train step, whose
temporaries are 443 MB: ~114,000 faults per step on the 2-core AMD EPYC this project is
measured on; ResNet-18's: ~48,000-65,000). With

    M_ARENA_MAX = 1     every thread allocates from the main heap (which grows with brk)
    M_MMAP_MAX = 0      no allocation gets its own mapping
    M_TRIM_THRESHOLD = -1  freed memory is never handed back to the kernel

the heap grows to its working size (about two steps' temporaries) over the first calls and
no later step faults: MobileNetV2's step is 38-90 ms (7-17%) faster in interleaved runs. The price
(docs/conv_bench.md): all threads share one arena, whose lock costs small,
allocation-heavy steps 13-18% (LeNet-5: 25.2 -> 29.7 ms), and the process keeps its peak
heap until it exits.

    CNN_JAX_MALLOC=steady  (default) the settings above, on Linux with glibc
    CNN_JAX_MALLOC=system  leave the C library's defaults

A malloc setting in $GLIBC_TUNABLES wins (nothing is changed), and a process that cannot
run JAX is left alone: the PyTorch reference scripts import cnn_jax's standard-library helpers
(`_cpu`, `weights.torch_file`) in a venv without JAX, and must time PyTorch with its own
allocator defaults. `apply()` runs when `cnn_jax`
is imported, before JAX starts its threads; imported later, it warns (XLA's threads already
own arenas, so only threads that have not yet picked one benefit). `mode()` is what this process uses (the conv
autotuner and the step tuner key their timings by it).
"""
import ctypes
import importlib.util
import os
import sys
import warnings

ENV = 'CNN_JAX_MALLOC'
MODES = ('steady', 'system')
# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_mode: list[str] = []  # what apply() did, once


def _glibc() -> ctypes.CDLL | None:
  if not sys.platform.startswith('linux'):
    return None
  try:
    if not os.confstr('CS_GNU_LIBC_VERSION'):
      return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, 'mallopt') else None
  except (ValueError, OSError, AttributeError):  # musl, no confstr name, no symbol
    return None


def apply() -> str:
  """Sets the allocation policy once per process (module doc); returns `mode()`."""
  if _mode:
    return _mode[0]
  choice = os.environ.get(ENV, 'steady').strip().lower()
  if choice not in MODES:
    raise ValueError(f'${ENV}={choice!r}: choose one of {MODES} (or unset it: steady).')
  libc = _glibc()
  if (choice == 'system' or libc is None or importlib.util.find_spec('jax') is None
      or 'glibc.malloc.' in os.environ.get('GLIBC_TUNABLES', '')):
    _mode.append('system')
    return 'system'
  bridge = sys.modules.get('jax._src.xla_bridge')
  if bridge is not None and bridge.backends_are_initialized():
    warnings.warn('JAX started before cnn_jax was imported: XLA\'s threads already have their own '
                  'malloc arenas, so their large buffers stay page-faulted every step; import '
                  f'cnn_jax first (or set ${ENV}=system to silence this).', stacklevel=3)
  ok = all(libc.mallopt(param, value) == 1 for param, value in
           ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)))
  _mode.append('steady' if ok else 'system')
  return _mode[0]


def mode() -> str:
  """'steady' when this process runs with the settings above, else 'system'."""
  return _mode[0] if _mode else 'system'
