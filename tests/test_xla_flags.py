"""XLA:CPU's convolution library (`cnn_jax._xla_flags`): importing cnn_jax adds the flag that
moves convolutions from YNNPACK to Eigen before JAX starts, leaves a user's own choice alone,
refuses a bad $CNN_JAX_XLA_CPU_CONV with the allowed values, warns when JAX started first, and
the compiled program really changes: no YNNPACK convolution fusion under 'eigen', one under
'ynnpack', the same numbers either way (checked against a float64 lax.conv)."""
import os
import subprocess
import sys

import pytest

from cnn_jax import _xla_flags

FLAG = '--xla_cpu_experimental_ynn_fusion_type'


@pytest.mark.parametrize('flags, library', [
    ('', 'ynnpack'),
    ('--xla_force_host_platform_device_count=4', 'ynnpack'),
    (f'{FLAG}=-individual_convolution', 'eigen'),
    (f'{FLAG}=+individual_dot,-individual_convolution', 'eigen'),
    (f'{FLAG}=+individual_dot', 'ynnpack'),     # edits XLA's default list, which has convs
    (f'{FLAG}=reduce', 'eigen'),                # replaces the list: convs not in it
    (f'{FLAG}=reduce,individual_convolution', 'ynnpack'),
    (f'{FLAG}=reduce {FLAG}=-individual_convolution', 'eigen'),  # the last one counts
])
def test_conv_library_reads_the_flag(monkeypatch, flags, library):
  monkeypatch.setenv('XLA_FLAGS', flags)
  assert _xla_flags.conv_library() == library


@pytest.fixture
def fresh(monkeypatch):
  monkeypatch.setattr(_xla_flags, '_applied', None)
  monkeypatch.setattr(_xla_flags, '_backends_started', lambda: False)
  monkeypatch.delenv(_xla_flags.ENV, raising=False)
  monkeypatch.setenv('XLA_FLAGS', '--xla_force_host_platform_device_count=4')


def test_apply_adds_the_eigen_flag_once(fresh):
  _xla_flags.apply()
  _xla_flags.apply()
  assert os.environ['XLA_FLAGS'] == ('--xla_force_host_platform_device_count=4 '
                                     f'{FLAG}=-individual_convolution')
  assert _xla_flags.conv_library() == 'eigen'


def test_apply_keeps_xla_default_when_asked(fresh, monkeypatch):
  monkeypatch.setenv(_xla_flags.ENV, 'ynnpack')
  _xla_flags.apply()
  assert os.environ['XLA_FLAGS'] == '--xla_force_host_platform_device_count=4'


def test_apply_leaves_a_users_flag_alone(fresh, monkeypatch):
  monkeypatch.setenv('XLA_FLAGS', f'{FLAG}=reduce,individual_convolution')
  _xla_flags.apply()
  assert os.environ['XLA_FLAGS'] == f'{FLAG}=reduce,individual_convolution'


def test_bad_choice_names_the_allowed_values(fresh, monkeypatch):
  monkeypatch.setenv(_xla_flags.ENV, 'mkl')
  with pytest.raises(ValueError, match=r"CNN_JAX_XLA_CPU_CONV='mkl'.*\('eigen', 'ynnpack'\)"):
    _xla_flags.apply()


def test_warns_when_jax_started_first(fresh, monkeypatch):
  monkeypatch.setattr(_xla_flags, '_backends_started', lambda: True)
  with pytest.warns(UserWarning, match='import cnn_jax first'):
    _xla_flags.apply()
  assert FLAG not in os.environ['XLA_FLAGS']


_PROBE = r"""
import re
import numpy as np
import cnn_jax  # before JAX starts: picks the library
import jax, jax.numpy as jnp
from jax import lax
# YNNPACK takes convolutions above a size threshold only: 4x16x16x32 -> 32 is above it.
x = np.random.default_rng(0).standard_normal((4, 16, 16, 32)).astype(np.float32)
w = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
conv = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), 'SAME',
                                             dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
grad = jax.jit(jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), argnums=(0, 1)))
hlo = grad.lower(x, w).compile().as_text()
bodies = dict(re.findall(r'^%?([\w.\-]+) [^\n]*\{\n(.*?)\n\}', hlo, re.S | re.M))
ynn_called = re.findall(r'calls=%?([\w.\-]+)[^\n]*__ynn_fusion', hlo)
ynn_conv = any('convolution(' in bodies.get(name, '') for name in ynn_called)
ref = lax.conv_general_dilated(x.astype(np.float64), w.astype(np.float64), (1, 1), 'SAME',
                               dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
err = float(np.max(np.abs(np.asarray(jax.jit(conv)(x, w)) - np.asarray(ref))) / np.max(np.abs(ref)))
print('LIBRARY', cnn_jax._xla_flags.conv_library(), 'YNN_CONV', ynn_conv, 'ERR', err)
"""


@pytest.mark.parametrize('choice', ['eigen', 'ynnpack'])
def test_the_compiled_program_uses_the_chosen_library(choice):
  env = dict(os.environ, XLA_FLAGS='', JAX_ENABLE_X64='1', **{_xla_flags.ENV: choice})
  out = subprocess.run([sys.executable, '-c', _PROBE], env=env, capture_output=True, text=True,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  line = next(l for l in out.stdout.splitlines() if l.startswith('LIBRARY'))
  _, library, _, ynn_conv, _, err = line.split()
  assert library == choice
  assert ynn_conv == str(choice == 'ynnpack')
  assert float(err) < 1e-5  # relative to the largest output
