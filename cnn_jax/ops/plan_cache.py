"""The conv autotuner's plan file: versioned JSON, one section per machine.

    <cache>/conv_autotune.json = {"version": VERSION,
                                  "machines": {machine id: {"machine": {...}, "plans": {key: entry}}}}

<cache> is $CNN_JAX_CACHE, else ~/.cache/cnn_jax (as `weights.fetch`). A plan measured on
one machine says nothing about another, so the section is keyed by what changes the timings:
the CPU model (/proc/cpuinfo), its vector instruction sets (AVX2, AVX-512, AMX), the JAX and
jaxlib versions, the backend's device kind and the library XLA:CPU's own convolutions run on
(`cnn_jax._xla_flags`: Eigen or YNNPACK, which changes what the `xla` candidate costs):
`_json_cache.machine`. A file that does not parse, has another VERSION or the wrong structure
is ignored with a warning and rewritten on the next save (`cnn_jax._json_cache`, shared with
the train step's compiler-option choice). `ops.conv_autotune` is its only user.
"""
import pathlib

from cnn_jax import _json_cache

# 2: timing protocol with a first-call drop, >= 5 calls, the 5% lax.conv margin;
# 3: 'taps' computes a depthwise weight gradient in one variadic reduction (2-3x faster),
#    so the times stored before are stale;
# 4: 'winograd''s dx is Winograd's forward of the transposed conv (3-4x faster than autodiff).
# 5: Winograd's transforms in two stacked passes (faster), and 'winograd4', F(4x4, 3x3).
# 6: Winograd's output rows as a matmul, flatter transform stages; 'taps' dx in one matmul.
VERSION = 6
FILE = 'conv_autotune.json'


def path() -> pathlib.Path:
  """$CNN_JAX_CACHE/conv_autotune.json, else ~/.cache/cnn_jax/conv_autotune.json."""
  return _json_cache.cache_dir() / FILE


machine = _json_cache.machine
machine_id = _json_cache.machine_id


def load() -> dict[str, dict]:
  """This machine's plans {key: entry} from the file ({} if none, old or corrupt)."""
  plans = _json_cache.section(path(), VERSION, 'plans', machine_id())
  return {k: e for k, e in plans.items() if isinstance(e, dict) and isinstance(e.get('impl'), str)}


def save(entries: dict[str, dict]) -> None:
  """Merges `entries` into this machine's section of the file (atomically, under a lock)."""
  m = machine()
  _json_cache.merge(path(), VERSION, 'plans', m, machine_id(m), entries)


write_json = _json_cache.write_json
