"""The conv autotuner's plan file: versioned JSON, one section per machine.

    <cache>/conv_autotune.json = {"version": VERSION,
                                  "machines": {machine id: {"machine": {...}, "plans": {key: entry}}}}

<cache> is $CNN_JAX_CACHE, else ~/.cache/cnn_jax (as `weights.fetch`). A plan measured on
one machine says nothing about another, so the section is keyed by what changes the timings:
the CPU model (/proc/cpuinfo), its vector instruction sets (AVX2, AVX-512, AMX), the JAX and
jaxlib versions, the backend's device kind and the library XLA:CPU's own convolutions run on
(`cnn_jax._xla_flags`: Eigen or YNNPACK, which changes what the `xla` candidate costs). A
file that does not parse, has another VERSION or the wrong structure is ignored with a
warning and rewritten on the next save.
Pure json/os: `ops.conv_autotune` is its only user.
"""
import fcntl
import functools
import json
import os
import pathlib
import tempfile
import warnings

import jax
import jaxlib

import cnn_jax._cpu as _cpu_info
from cnn_jax import _xla_flags

VERSION = 2  # 2: timing protocol with a first-call drop, >= 5 calls, the 5% lax.conv margin
FILE = 'conv_autotune.json'
ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile')


def path() -> pathlib.Path:
  """$CNN_JAX_CACHE/conv_autotune.json, else ~/.cache/cnn_jax/conv_autotune.json."""
  folder = os.environ.get('CNN_JAX_CACHE') or pathlib.Path.home() / '.cache' / 'cnn_jax'
  return pathlib.Path(folder) / FILE


def _cpu() -> tuple[str, tuple[str, ...]]:
  model, flags = _cpu_info.cpuinfo()
  return model, tuple(f for f in ISA_FLAGS if f in flags)


def machine() -> dict:
  """What the timings depend on: CPU model, instruction sets, JAX version, device kind and
  (on CPU) XLA's convolution library."""
  model, isa = _cpu()
  device = jax.devices()[0]
  m = dict(cpu=model, isa=list(isa), jax=jax.__version__, jaxlib=jaxlib.__version__,
           platform=device.platform, device_kind=device.device_kind)
  if device.platform == 'cpu':
    m['xla_conv'] = _xla_flags.conv_library()
  return m


def machine_id(m: dict | None = None) -> str:
  m = m or machine()
  return (f"{m['cpu']} [{','.join(m['isa']) or 'no avx2'}] jax {m['jax']} "
          f"{m['platform']}:{m['device_kind']}"
          + (f" conv {m['xla_conv']}" if m.get('xla_conv') else ''))


def _read(file: pathlib.Path) -> dict:
  """The whole file's content if valid, else {} (with a warning if the file exists)."""
  if not file.exists():
    return {}
  try:
    data = json.loads(file.read_text())
    if not isinstance(data, dict) or data.get('version') != VERSION:
      raise ValueError(f"version {data.get('version') if isinstance(data, dict) else None!r}, "
                       f'this code writes {VERSION}')
    if not isinstance(data.get('machines'), dict) or not all(
        isinstance(s, dict) and isinstance(s.get('plans'), dict) for s in data['machines'].values()):
      raise ValueError('no "machines" -> {"plans": {...}} sections')
    return data
  except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
    warnings.warn(f'conv autotune cache {file} is unusable ({e}); ignoring it: the plans are '
                  f'measured again and the file rebuilt.', stacklevel=3)
    return {}


def load() -> dict[str, dict]:
  """This machine's plans {key: entry} from the file ({} if none, old or corrupt)."""
  section = _read(path()).get('machines', {}).get(machine_id(), {})
  return {k: e for k, e in section.get('plans', {}).items()
          if isinstance(e, dict) and isinstance(e.get('impl'), str)}


def save(entries: dict[str, dict]) -> None:
  """Merges `entries` into this machine's section of the file (atomically, under a lock)."""
  file = path()
  try:
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_suffix('.lock'), 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      data = _read(file) or dict(version=VERSION, machines={})
      m = machine()
      section = data['machines'].setdefault(machine_id(m), dict(machine=m, plans={}))
      section['plans'].update(entries)
      write_json(file, data)
  except OSError as e:  # a read-only home must not stop training: the plans stay in memory
    warnings.warn(f'conv autotune cache {file} not written ({e}); set $CNN_JAX_CACHE to a '
                  f'writable folder to keep plans across runs.', stacklevel=3)


def write_json(file: str | os.PathLike, data: dict) -> None:
  """Writes `data` as indented JSON, atomically (a temp file renamed over the target)."""
  file = pathlib.Path(file)
  fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name, suffix='.tmp')
  with os.fdopen(fd, 'w') as f:
    json.dump(data, f, indent=1, sort_keys=True)
  os.replace(tmp, file)
