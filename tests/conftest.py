"""Test setup: 4 CPU devices, set before JAX is imported anywhere in the test session."""
import os

os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                           ' --xla_force_host_platform_device_count=4').strip()
os.environ.setdefault('JAX_PLATFORMS', 'cpu')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

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
