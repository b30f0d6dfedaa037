"""Versioned per-machine JSON files in cnn_jax's cache folder.

    <cache>/<name>.json = {"version": V, "machines": {machine id: {"machine": {...}, <field>: {...}}}}

<cache> is $CNN_JAX_CACHE, else ~/.cache/cnn_jax. Used by the conv autotuner's plan file
(`ops.plan_cache`) and the train step's compiler-option choice (`train.compile_tuning`): both
record measurements that hold for one machine only. A file that does not parse, has another
version or the wrong structure is ignored with a warning and rewritten on the next save;
writes are atomic (a temp file renamed over the target) under a file lock, so concurrent runs
share the file. Standard library only, except `machine()`, which asks JAX for its device.
"""
import fcntl
import json
import os
import pathlib
import tempfile
import warnings

from cnn_jax import _cpu, _malloc, _xla_flags

ISA_FLAGS = ('avx2', 'avx512f', 'avx512_bf16', 'amx_tile')


def cache_dir() -> pathlib.Path:
  """$CNN_JAX_CACHE, else ~/.cache/cnn_jax."""
  return pathlib.Path(os.environ.get('CNN_JAX_CACHE') or pathlib.Path.home() / '.cache' / 'cnn_jax')


def read(file: pathlib.Path, version: int, field: str) -> dict:
  """The whole file's content if valid, else {} (with a warning if the file exists)."""
  if not file.exists():
    return {}
  try:
    data = json.loads(file.read_text())
    if not isinstance(data, dict) or data.get('version') != version:
      raise ValueError(f'version {data.get("version") if isinstance(data, dict) else None!r}, '
                       f'this code writes {version}')
    if not isinstance(data.get('machines'), dict) or not all(
        isinstance(s, dict) and isinstance(s.get(field), dict) for s in data['machines'].values()):
      raise ValueError(f'no "machines" -> {{"{field}": {{...}}}} sections')
    return data
  except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
    warnings.warn(f'cache file {file} is unusable ({e}); ignoring it: what it held is measured '
                  f'again and the file rebuilt.', stacklevel=3)
    return {}


def section(file: pathlib.Path, version: int, field: str, machine_id: str) -> dict:
  """This machine's {key: entry} under `field` ({} if none, old or corrupt)."""
  return read(file, version, field).get('machines', {}).get(machine_id, {}).get(field, {})


def merge(file: pathlib.Path, version: int, field: str, machine: dict, machine_id: str,
          entries: dict) -> None:
  """Merges `entries` into this machine's `field` (atomically, under a lock). An unwritable
  folder warns and keeps going (the entries stay in the caller's memory)."""
  try:
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file.with_suffix('.lock'), 'w') as lock:
      fcntl.flock(lock, fcntl.LOCK_EX)
      data = read(file, version, field) or dict(version=version, machines={})
      sec = data['machines'].setdefault(machine_id, {'machine': machine, field: {}})
      sec[field].update(entries)
      write_json(file, data)
  except OSError as e:  # a read-only home must not stop training
    warnings.warn(f'cache file {file} not written ({e}); set $CNN_JAX_CACHE to a writable '
                  f'folder to keep measurements across runs.', stacklevel=3)


def write_json(file: str | os.PathLike, data: dict) -> None:
  """Writes `data` as indented JSON, atomically (a temp file renamed over the target)."""
  file = pathlib.Path(file)
  fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=file.name, suffix='.tmp')
  with os.fdopen(fd, 'w') as f:
    json.dump(data, f, indent=1, sort_keys=True)
  os.replace(tmp, file)


def machine() -> dict:
  """What timings depend on: CPU model and vector instruction sets (/proc/cpuinfo), JAX and
  jaxlib versions, the device kind and (on CPU) XLA's convolution library (`_xla_flags`) and
  the allocation policy (`_malloc`: timings taken with a page fault per fresh 4 KiB differ)."""
  import jax  # here: the rest of this module is standard library only
  import jaxlib
  model, flags = _cpu.cpuinfo()
  device = jax.devices()[0]
  m = dict(cpu=model, isa=[f for f in ISA_FLAGS if f in flags], jax=jax.__version__,
           jaxlib=jaxlib.__version__, platform=device.platform, device_kind=device.device_kind)
  if device.platform == 'cpu':
    m['xla_conv'] = _xla_flags.conv_library()
    m['malloc'] = _malloc.mode()
  return m


def machine_id(m: dict | None = None) -> str:
  """A readable key of `machine()`, e.g. 'AMD EPYC [avx2] jax 0.10.2 cpu:cpu conv eigen'."""
  m = m or machine()
  return (f"{m['cpu']} [{','.join(m['isa']) or 'no avx2'}] jax {m['jax']} "
          f"{m['platform']}:{m['device_kind']}"
          + (f" conv {m['xla_conv']}" if m.get('xla_conv') else '')
          + (f" malloc {m['malloc']}" if m.get('malloc', 'system') != 'system' else ''))
