"""launch.py end to end (subprocesses, as a user runs it) and every experiment's smoke run."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, load_config
from test_data import write_idx  # noqa: F401  (the fixture's helper)
from cnn_jax.tasks import classification


def launch(*args, env=None, timeout=300):
  return subprocess.run([sys.executable, str(REPO / 'launch.py'), *args], capture_output=True,
                        text=True, timeout=timeout, env=env, cwd=REPO)


def test_launch_trains_evaluates_checkpoints_draws_and_resumes(tmp_path):
  workdir = tmp_path / 'run'
  cmd = ['--config', 'experiments/lenet5_mnist.py:smoke', '--workdir', str(workdir)]
  first = launch(*cmd)
  assert first.returncode == 0, first.stderr[-3000:]
  assert 'test accuracy' in first.stderr and '12/12' in first.stderr  # log + progress bar
  for name in ('config.json', 'metrics.jsonl', 'curves.png', 'confusion.png', 'predictions.png'):
    assert (workdir / name).stat().st_size > 0, name
  assert any(f.startswith('events.out.tfevents') for f in os.listdir(workdir / 'tensorboard'))
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['12', '6']
  records = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  train = [r for r in records if 'train/loss' in r]
  assert {'train/accuracy', 'train/learning_rate', 'train/img_per_sec'} <= set(train[-1])
  assert [r['step'] for r in records if 'eval/accuracy' in r] == [6, 12]

  again = launch(*cmd)  # complete: resumes at 12 and does nothing more
  assert again.returncode == 0
  assert 'This run is complete' in again.stderr and 'checkpoint of step 12' in again.stderr
  assert str(workdir / 'confusion.png') in again.stderr and 'Last evaluation (step 12)' in again.stderr
  assert (workdir / 'metrics.jsonl').read_text().splitlines() == \
      [json.dumps(r) for r in records]

  changed = launch(*cmd, '--config.train.steps=20')
  assert changed.returncode == 1 and 'train.steps: 12 -> 20' in changed.stderr
  assert '--allow_config_change' in changed.stderr


def test_misspelt_config_key_lists_the_valid_keys(tmp_path):
  out = launch('--config', 'experiments/lenet5_mnist.py:smoke', '--config.train.stepz=3',
               '--workdir', str(tmp_path))
  assert out.returncode != 0
  assert "Unknown config key 'train.stepz'" in out.stderr and "'steps'" in out.stderr


def test_no_config_lists_the_experiments():
  out = launch()
  assert out.returncode == 2 and 'Traceback' not in out.stderr
  assert 'Choose an experiment' in out.stderr
  assert 'lenet5_mnist' in out.stderr and 'LeNet-5 on MNIST' in out.stderr
  assert '  _lenet5 ' not in out.stderr  # bases are not experiments


def test_unwritable_workdir_is_a_user_error_without_traceback(tmp_path):
  (tmp_path / 'a_file').write_text('')
  out = launch('--config', 'experiments/lenet5_mnist.py:smoke', '--workdir',
               str(tmp_path / 'a_file' / 'run'))
  assert out.returncode == 1 and 'Traceback' not in out.stderr
  assert 'Cannot write to workdir' in out.stderr and '--workdir' in out.stderr


def test_unknown_names_get_the_choices(tmp_path):
  out = launch('--config', 'experiments/lenet5_mnist.py:smoke', '--config.optimizer.name=adamm',
               '--workdir', str(tmp_path))
  assert out.returncode == 1 and "Unknown optimizer 'adamm'" in out.stderr and 'adamw' in out.stderr
  assert 'Traceback' not in out.stderr


@pytest.mark.parametrize('name', ['lenet5_digits', 'lenet5_fashion_mnist'])
def test_experiment_smoke_runs(name, tmp_path):
  config = load_config(name)
  if name == 'lenet5_fashion_mnist':  # a tiny IDX folder, so this runs with or without apt's
    import numpy as np
    for prefix, n in (('train', 64), ('t10k', 20)):
      write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', np.random.default_rng(0).integers(0, 256, (n, 28, 28)))
      write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', np.arange(n) % 10)
    config.data.dir = str(tmp_path)
  result = classification.run(config, str(tmp_path / 'run'))
  assert int(result.state.step) == config.train.steps
  assert int(result.eval['count']) == (364 if name == 'lenet5_digits' else 20)


def test_tfds_experiment_smoke_run_on_mock_data(tmp_path):
  import tensorflow_datasets as tfds
  config = load_config('lenet5_tfds_mnist')
  with tfds.testing.mock_data(num_examples=16):
    result = classification.run(config, str(tmp_path))
  assert int(result.eval['count']) == 16 and int(result.state.step) == 4


def _parse(*args):
  """launch.py's config flag, parsed in-process (locked, as a user's command line is)."""
  from absl import flags
  from ml_collections import config_flags
  values, argv = flags.FlagValues(), ['launch.py', *args]
  config_flags.DEFINE_config_file('config', None, '', flag_values=values, lock_config=True,
                                  sys_argv=argv)  # where the override flags are read from
  values(argv)
  return values.config


def test_sequence_fields_and_every_task_key_can_be_overridden_from_the_command_line():
  bench = _parse('--config', str(REPO / 'experiments/bench_models.py'),
                 "--config.models=('resnet18','mobilenet_v2')", "--config.external=('mine.json',)")
  assert bench.models == ('resnet18', 'mobilenet_v2') and bench.external == ('mine.json',)
  lenet = _parse('--config', str(REPO / 'experiments/lenet5_mnist.py:smoke'),
                 '--config.data.augment=flip_lr', "--config.optimizer.lr_mults=(('CONV.*', 0.0),)",
                 "--config.transfer.reinit=('params/Softmax/.*',)", '--config.init_from=imagenet')
  assert lenet.data.augment == 'flip_lr' and lenet.optimizer.lr_mults == (('CONV.*', 0.0),)
  assert lenet.transfer.reinit == ('params/Softmax/.*',) and lenet.init_from == 'imagenet'
