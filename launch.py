r"""cnn_jax's one entry point: a config in, a trained/evaluated/benchmarked workdir out.

  python launch.py --config experiments/lenet5_mnist.py --workdir runs/lenet5_mnist
  python launch.py --config experiments/lenet5_mnist.py:smoke --config.train.steps=20 ...
  python launch.py --config experiments/summary.py:lenet5

`python launch.py` alone lists the experiments. Compiled programs are kept in a persistent
cache (default ~/.cache/cnn_jax/jax_compilation, or $CNN_JAX_CACHE/jax_compilation;
--compilation_cache_dir='' turns it off), so a second start of a config skips most of the
compilation. Re-running a finished run says so, with where its results are.

Multi-host: add --coordinator_address=HOST:PORT --num_processes=N --process_id=I on every
host (jax.distributed.initialize is called only when these are given). Only process 0
writes metrics, pictures and progress.
"""
import ast
import glob
import json
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file (path.py[:arg]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', '', 'Directory for checkpoints, metrics and pictures.')
_COORDINATOR = flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 (multi-host).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes (multi-host).')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process (multi-host).')
_CPU_COLLECTIVES = flags.DEFINE_string(
    'cpu_collectives', 'gloo', 'CPU cross-process collectives (gloo | mpi), multi-host CPU only.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'Resume a workdir whose config.json differs from --config.')
_CACHE_DIR = flags.DEFINE_string(
    'compilation_cache_dir', None,
    "JAX's persistent compilation cache. Default: $CNN_JAX_CACHE/jax_compilation or "
    "~/.cache/cnn_jax/jax_compilation ($JAX_COMPILATION_CACHE_DIR wins if set); '' turns it off.")
_REPO = os.path.dirname(os.path.abspath(__file__))


def experiments_table() -> str:
  """'name  first sentence of its docstring' for every experiments/*.py (not the _bases)."""
  rows = []
  for path in sorted(glob.glob(os.path.join(_REPO, 'experiments', '[!_]*.py'))):
    with open(path) as f:
      doc = ast.get_docstring(ast.parse(f.read())) or ''
    para = ' '.join(doc.strip().split('\n\n')[0].split())
    end = min((i for i in (para.find('. '), para.find(': ')) if i >= 0), default=len(para))
    line = para[:end + 1].rstrip(':')
    rows.append((os.path.basename(path)[:-3], line if len(line) <= 100 else line[:97] + '...'))
  width = max(len(n) for n, _ in rows)
  return '\n'.join(f'  {n:<{width}}  {d}' for n, d in rows)


def _compilation_cache() -> None:
  """Turns on JAX's persistent compilation cache (see --compilation_cache_dir)."""
  import jax
  directory = _CACHE_DIR.value
  if directory is None:
    if os.environ.get('JAX_COMPILATION_CACHE_DIR'):
      return  # JAX reads it itself
    root = os.environ.get('CNN_JAX_CACHE') or os.path.join(os.path.expanduser('~'), '.cache', 'cnn_jax')
    directory = os.path.join(root, 'jax_compilation')
  if not directory:
    return
  jax.config.update('jax_compilation_cache_dir', directory)
  # Small programs too: a course model's step compiles in about a second on a CPU.
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.2)


def _finished_run_report(workdir: str, steps: int, step: int) -> str:
  """What a re-run of a complete run says: its step, last evaluation, where results are."""
  lines = [f'This run is complete: {workdir} holds its checkpoint of step {step} '
           f'(config.train.steps={steps}); nothing to train. To train longer, pass a larger '
           '--config.train.steps with --allow_config_change; for a new run, a new --workdir.']
  metrics = os.path.join(workdir, 'metrics.jsonl')
  if os.path.exists(metrics):
    with open(metrics) as f:
      evals = [r for r in map(json.loads, filter(str.strip, f))
               if any(k.startswith('eval/') for k in r)]
    if evals:
      last = evals[-1]
      lines.append(f'Last evaluation (step {last["step"]}): ' + ', '.join(
          f'{k[5:]} {v:.4g}' for k, v in last.items() if k.startswith('eval/')))
    lines.append(f'Metrics: {metrics}')
  pictures = sorted(glob.glob(os.path.join(workdir, '*.png')))
  if pictures:
    lines.append('Pictures: ' + ', '.join(pictures))
  if os.path.isdir(os.path.join(workdir, 'tensorboard')):
    lines.append(f'TensorBoard: tensorboard --logdir {os.path.join(workdir, "tensorboard")}')
  return '\n'.join(lines)


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO chatter of Orbax (dozens of lines per checkpoint) and JAX's probe for a TPU
  ("Unable to initialize backend 'tpu'", on every machine without one); warnings pass."""

  def filter(self, record):
    if record.levelno >= logging.logging.WARNING:
      return True
    return 'orbax' not in record.pathname and 'Unable to initialize backend' not in record.getMessage()


def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _CONFIG.value is None:
    print('Choose an experiment: python launch.py --config experiments/<name>.py[:arg] '
          '--workdir runs/<name>\n\n' + experiments_table(), file=sys.stderr)
    sys.exit(2)
  import cnn_jax  # noqa: F401  first: it picks XLA:CPU's conv library before JAX starts
  import jax  # after flag parsing, so --help stays fast

  _compilation_cache()

  if _COORDINATOR.value or _NUM_PROCESSES.value:
    jax.config.update('jax_cpu_collectives_implementation', _CPU_COLLECTIVES.value)
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  logging.info('JAX %s: process %d of %d; %d local / %d global devices: %s', jax.__version__,
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count(), jax.devices())

  from cnn_jax import tasks
  from cnn_jax.train.workdir import check_and_record_config, check_writable

  # Errors whose message says what to do: shown without a traceback. Not KeyError: most are
  # bugs (a missing dict key), whose traceback must show.
  USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError, PermissionError, MemoryError)

  config = _CONFIG.value
  task = tasks.get(config.task)
  workdir = _WORKDIR.value
  if getattr(task, 'NEEDS_WORKDIR', True):
    if not workdir:
      raise app.UsageError(f'Task {config.task!r} needs --workdir (where its run is kept).')
    try:
      check_writable(workdir)
      check_and_record_config(workdir, config.to_dict(), _ALLOW_CONFIG_CHANGE.value,
                              write=jax.process_index() == 0)
    except ValueError as e:
      logging.error('%s', e)
      sys.exit(1)
  try:
    result = task.run(config, workdir or None)
  except USER_ERRORS as e:
    if logging.get_verbosity() > logging.INFO:  # --verbosity=1 shows the traceback too
      raise
    logging.error('%s: %s', type(e).__name__, e)
    sys.exit(1)
  steps = config.train.get('steps') if 'train' in config else None
  if (jax.process_index() == 0 and steps and getattr(result, 'resumed_from', None) is not None
      and result.resumed_from >= steps):
    logging.info('%s', _finished_run_report(workdir, steps, result.resumed_from))
  if getattr(result, 'interrupted', False):
    logging.warning('Stopped by SIGTERM; checkpoint saved. Re-run the same command to resume.')
    sys.exit(143)


def _bad_override(argv: list[str]) -> str | None:
  """For a misspelt --config.a.b=... override, a message naming it and listing valid keys."""
  import runpy
  spec = next((a.split('=', 1)[1] for a in argv if a.startswith('--config=')), None)
  if spec is None and '--config' in argv[:-1]:
    spec = argv[argv.index('--config') + 1]
  if spec is None:
    return None
  path, _, arg = spec.partition(':')
  config = runpy.run_path(path)['get_config'](*([arg] if arg else []))
  for a in argv:
    if not a.startswith('--config.'):
      continue
    node, keys = config, a[len('--config.'):].split('=', 1)[0].split('.')
    for i, key in enumerate(keys):
      if not hasattr(node, 'keys') or key not in node:
        where = 'config' + ''.join(f'.{k}' for k in keys[:i])
        valid = sorted(node.keys()) if hasattr(node, 'keys') else []
        return f'Unknown config key {".".join(keys)!r} in {a!r}: {where} has keys {valid}.'
      node = node[key]
  return None


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a readable error for a misspelt config override."""
  try:
    return flags.FLAGS(argv)
  except (flags.Error, KeyError, AttributeError):
    try:
      message = _bad_override(argv)
    except Exception:  # explaining must never hide the original error
      message = None
    if message is None:
      raise
    print(f'FATAL: {message}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  app.run(main, flags_parser=_parse_flags)
