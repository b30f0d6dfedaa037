r"""cnn_jax's one entry point: a config in, a trained/evaluated/benchmarked workdir out.

  python launch.py --config experiments/lenet5_mnist.py --workdir runs/lenet5_mnist
  python launch.py --config experiments/lenet5_mnist.py:smoke --config.train.steps=20 ...
  python launch.py --config experiments/summary.py:lenet5

Multi-host: add --coordinator_address=HOST:PORT --num_processes=N --process_id=I on every
host (jax.distributed.initialize is called only when these are given). Only process 0
writes metrics, pictures and progress.
"""
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
flags.mark_flags_as_required(['config'])


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO chatter of Orbax (dozens of lines per checkpoint); warnings still pass."""

  def filter(self, record):
    return record.levelno >= logging.logging.WARNING or 'orbax' not in record.pathname


def main(argv):
  logging.get_absl_handler().addFilter(_QuietLibraries())
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  import jax  # after flag parsing, so --help stays fast

  if _COORDINATOR.value or _NUM_PROCESSES.value:
    jax.config.update('jax_cpu_collectives_implementation', _CPU_COLLECTIVES.value)
    jax.distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  logging.info('JAX %s: process %d of %d; %d local / %d global devices: %s', jax.__version__,
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count(), jax.devices())

  from cnn_jax import tasks
  from cnn_jax.train.workdir import check_and_record_config

  # Errors whose message says what to do: shown without a traceback. Not KeyError: most are
  # bugs (a missing dict key), whose traceback must show.
  USER_ERRORS = (ValueError, FileNotFoundError, FloatingPointError)

  config = _CONFIG.value
  task = tasks.get(config.task)
  workdir = _WORKDIR.value
  if getattr(task, 'NEEDS_WORKDIR', True):
    if not workdir:
      raise app.UsageError(f'Task {config.task!r} needs --workdir (where its run is kept).')
    try:
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
