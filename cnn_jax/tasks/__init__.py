"""Tasks: one module per job, each exposing `run(config, workdir)`.

`launch.py` imports `cnn_jax.tasks.<config.task>`; the set of tasks is the set of modules here.
"""
import importlib
import pkgutil


def names() -> list[str]:
  """Task names available to `config.task`."""
  return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith('_'))


def get(name: str):
  """Returns the task module `name`, or a ValueError listing the choices."""
  if name not in names():
    raise ValueError(f'Unknown task {name!r}; choose one of {names()} (config.task).')
  return importlib.import_module(f'{__name__}.{name}')
