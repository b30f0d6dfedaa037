"""The CPU a timing was taken on, from the standard library only.

Benchmark results are compared only between runs on the same CPU model, and the conv
autotuner keys its plans by model and instruction sets; the PyTorch reference scripts run in a
venv without JAX, so this module imports nothing but the standard library.
"""
import functools
import platform


@functools.lru_cache(maxsize=1)
def cpuinfo() -> tuple[str, frozenset[str]]:
  """(model name, instruction-set flags) of the first CPU in /proc/cpuinfo; off Linux the
  model from `platform` and no flags."""
  model, flags = platform.processor() or platform.machine(), frozenset()
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        name, _, value = line.partition(':')
        if name.strip() == 'model name':
          model = value.strip()
        elif name.strip() == 'flags':
          flags = frozenset(value.split())
          break
  except OSError:
    pass
  return model, flags


def cpu_model() -> str:
  """The CPU model name, e.g. 'AMD EPYC 7B13'."""
  return cpuinfo()[0]
