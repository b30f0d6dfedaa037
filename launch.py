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

  config = _CONFIG.value
  task = tasks.get(config.task)
  workdir = _WORKDIR.value
  if getattr(task, 'NEEDS_WORKDIR', True):
    if not workdir:
      raise app.UsageError(f'Task {config.task!r} needs --workdir (where its run is kept).')
    check_and_record_config(workdir, config.to_dict(), _ALLOW_CONFIG_CHANGE.value,
                            write=jax.process_index() == 0)
  result = task.run(config, workdir or None)
  if getattr(result, 'interrupted', False):
    logging.warning('Stopped by SIGTERM; checkpoint saved. Re-run the same command to resume.')
    sys.exit(143)


if __name__ == '__main__':
  app.run(main)
