"""Test setup: 4 CPU devices, set before JAX is imported anywhere in the test session."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# conv_impl='auto' (every model's default) times formulations on first use; in the suite it
# takes lax.conv's plan untimed instead, so runs stay cheap and bit-reproducible (fixtures).
# tests/test_autotune.py turns measuring back on with a fake timer.
os.environ.setdefault('CNN_JAX_CONV_AUTOTUNE', 'xla')
# Runs in the suite compile the same small programs again and again (and in subprocesses):
# a persistent compilation cache for the session turns the repeats into cache hits.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR', os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '.pytest_cache', 'jax'))
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES', '0')

import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope='session')
def repo() -> pathlib.Path:
  """The repository root (where launch.py and experiments/ live)."""
  return REPO


def load_config(name: str, arg: str | None = 'smoke'):
  """experiments/<name>.py's get_config(arg), unlocked for tests to adjust."""
  import runpy
  config = runpy.run_path(str(REPO / 'experiments' / f'{name}.py'))['get_config'](arg)
  return config


@pytest.fixture
def smoke_config():
  """The LeNet-5 MNIST smoke config (12 steps, batch 32), for in-process runs."""
  return load_config('lenet5_mnist')
