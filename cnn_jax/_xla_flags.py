"""XLA:CPU's convolution library, chosen before JAX starts (standard library only).

XLA:CPU (jaxlib 0.10) hands 2-D convolutions to YNNPACK by default; with the flag

    --xla_cpu_experimental_ynn_fusion_type=-individual_convolution

it runs them with its own Eigen convolution instead (dots and reductions stay with YNNPACK).
On the 2-core AMD EPYC (AVX2, no AVX-512) this project is measured on, Eigen's convolutions
make whole train steps 1.8-2x faster: ResNet-18 small-input b32 1,682 -> 860 ms, LeNet-5 b256
40.9 -> 23.1 ms (docs/conv_bench.md, `benchmarks/side_by_side.py --conv-library`). Which
library wins depends on the CPU, so it is a choice, not a law:

    CNN_JAX_XLA_CPU_CONV=eigen    (default) Eigen's convolutions
    CNN_JAX_XLA_CPU_CONV=ynnpack  XLA's own default (YNNPACK)

A `--xla_cpu_experimental_ynn_fusion_type` already in $XLA_FLAGS wins over both. XLA reads
its flags once, when the first JAX backend starts, so `apply()` runs when `cnn_jax` is
imported; if JAX was already running it warns that the choice cannot take effect.
`conv_library()` is what the running process uses (the conv autotuner keys its plans by it).
"""
import os
import sys
import warnings

ENV = 'CNN_JAX_XLA_CPU_CONV'
LIBRARIES = ('eigen', 'ynnpack')
_YNN_FLAG = '--xla_cpu_experimental_ynn_fusion_type'
_FLAGS = {'eigen': f'{_YNN_FLAG}=-individual_convolution', 'ynnpack': ''}
_applied: str | None = None  # the library apply() set up, if it set one


def _backends_started() -> bool:
  bridge = sys.modules.get('jax._src.xla_bridge')
  return bool(bridge is not None and bridge.backends_are_initialized())


def apply() -> None:
  """Adds the chosen library's flag to $XLA_FLAGS (once, before JAX starts)."""
  global _applied
  choice = os.environ.get(ENV, 'eigen').strip().lower()
  if choice not in LIBRARIES:
    raise ValueError(f'${ENV}={choice!r}: choose one of {LIBRARIES} (or unset it: eigen).')
  flags = os.environ.get('XLA_FLAGS', '')
  if _applied is not None or _YNN_FLAG in flags:
    return
  if _backends_started():
    warnings.warn(f'JAX started before cnn_jax was imported, so XLA:CPU keeps its default '
                  f'convolution library (YNNPACK); import cnn_jax first to get {choice!r} '
                  f'(${ENV}).', stacklevel=3)
    return
  if _FLAGS[choice]:
    os.environ['XLA_FLAGS'] = f'{flags} {_FLAGS[choice]}'.strip()
  _applied = choice


def conv_library() -> str:
  """'eigen' or 'ynnpack': the library XLA:CPU's convolutions use in this process (read from
  $XLA_FLAGS, which XLA read when it started)."""
  for flag in reversed(os.environ.get('XLA_FLAGS', '').split()):  # the last one counts
    if flag.startswith(_YNN_FLAG + '='):
      value = flag.split('=', 1)[1].split(',')
      if value and all(v.startswith(('+', '-')) for v in value):  # edits XLA's default list
        return 'eigen' if '-individual_convolution' in value else 'ynnpack'
      return 'ynnpack' if 'individual_convolution' in value else 'eigen'
  return 'ynnpack'
