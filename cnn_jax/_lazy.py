"""Lazy submodule access for the layer packages (`ops.boxes`, `metrics.detection`, ...).

`from cnn_jax import ops` then `ops.conv` imports `cnn_jax.ops.conv` on first use, so
importing one layer never pays for (or breaks on) another's heavy dependencies.
"""
import importlib
import importlib.util


def submodule_getattr(package: str):
  """Returns a module-level `__getattr__` that imports `package.<name>` on demand."""

  def __getattr__(name: str):
    if name.startswith('_') or importlib.util.find_spec(f'{package}.{name}') is None:
      raise AttributeError(f'module {package!r} has no attribute {name!r}')
    return importlib.import_module(f'{package}.{name}')

  return __getattr__
