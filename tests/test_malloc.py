"""cnn_jax._malloc: importing cnn_jax keeps XLA:CPU's per-run buffers in the heap, so a jitted
program with a large temporary buffer stops page-faulting it in afresh on every call."""
import os
import subprocess
import sys

import pytest

from cnn_jax import _json_cache, _malloc

GLIBC = sys.platform.startswith('linux') and bool(os.confstr('CS_GNU_LIBC_VERSION'))

# A program whose temporaries (9 shifted 8 MB copies) exceed glibc's 32 MB mmap threshold;
# prints the median minor page faults per call (the heap grows to its working size, about two
# calls' temporaries, over the first calls, then stays: those calls fault, later ones do not).
_FAULTS = r'''
import resource, statistics
import cnn_jax, jax, jax.numpy as jnp
from cnn_jax import _malloc
x = jnp.ones((16, 32, 32, 128))
def f(x):
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  return jnp.stack([(xp[:, i:i + 32, j:j + 32] * x).sum((0, 1, 2)) for i in range(3) for j in range(3)])
g = jax.jit(f).lower(x).compile()
faults = []
for _ in range(15):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  jax.block_until_ready(g(x))
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(_malloc.mode(), statistics.median(faults))
'''


def _child(code: str, **env) -> subprocess.CompletedProcess:
  # The child starts from the defaults whatever the caller's own setting is.
  base = {k: v for k, v in os.environ.items() if k not in ('CNN_JAX_MALLOC', 'GLIBC_TUNABLES')}
  return subprocess.run([sys.executable, '-c', code], env={**base, **env},
                        capture_output=True, text=True, timeout=120)


def _run(code: str, **env) -> str:
  out = _child(code, **env)
  assert out.returncode == 0, out.stderr
  return out.stdout.strip()


@pytest.mark.skipif(not GLIBC, reason='the allocation policy is glibc mallopt (Linux)')
def test_steady_policy_removes_the_per_call_page_faults():
  steady_mode, steady = _run(_FAULTS).split()
  system_mode, system = _run(_FAULTS, CNN_JAX_MALLOC='system').split()
  assert (steady_mode, system_mode) == ('steady', 'system')
  # glibc's default: each call maps its ~80 MB of temporaries afresh: ~20,000 4-KiB faults
  # (a kernel with transparent huge pages set to 'always' faults 2 MiB pages instead: ~40)
  thp = open('/sys/kernel/mm/transparent_hugepage/enabled').read() if os.path.exists(
      '/sys/kernel/mm/transparent_hugepage/enabled') else ''
  assert float(system) > (20 if '[always]' in thp else 5000), system
  assert float(steady) < float(system) / 10, (steady, system)


def test_mode_is_part_of_the_machine_identity_and_bad_values_are_refused():
  # with no setting of the user's, importing cnn_jax (before JAX) takes the steady policy
  assert _run('import cnn_jax\nfrom cnn_jax import _malloc\nprint(_malloc.mode())') == (
      'steady' if GLIBC else 'system')
  m = _json_cache.machine()
  assert m.get('malloc', 'system') == _malloc.mode()
  assert ('malloc steady' in _json_cache.machine_id(m)) == (_malloc.mode() == 'steady')
  bad = _run('import os\ntry:\n  import cnn_jax\nexcept ValueError as e:\n  print(e)',
             CNN_JAX_MALLOC='fast')
  assert 'CNN_JAX_MALLOC' in bad and 'steady' in bad and 'system' in bad
  # a process that cannot run JAX (the PyTorch reference scripts' venv) is left alone
  assert _run("import sys\nsys.modules['jax'] = None  # as if not installed\nimport cnn_jax\n"
              "from cnn_jax import _malloc\nprint(_malloc.mode())") == 'system'
  # a malloc setting of the user's own, in GLIBC_TUNABLES, is left alone
  assert _run('import cnn_jax\nfrom cnn_jax import _malloc\nprint(_malloc.mode())',
              GLIBC_TUNABLES='glibc.malloc.arena_max=2') == 'system'


@pytest.mark.skipif(not GLIBC, reason='the allocation policy is glibc mallopt (Linux)')
def test_importing_after_jax_started_says_so():
  out = _child('import jax\njax.devices()\nimport cnn_jax')
  assert out.returncode == 0, out.stderr
  assert 'import cnn_jax first' in out.stderr and 'CNN_JAX_MALLOC=system' in out.stderr
