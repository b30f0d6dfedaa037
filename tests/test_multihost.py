"""Real 2-process jax.distributed runs on 127.0.0.1 (gloo collectives): they agree with one
process, and a SIGTERM that reaches only process 1 stops both at the same step (a multiple of
config.train.preemption_check_every) with one checkpoint, from which a resumed run ends
bit-equal to an uninterrupted one."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import REPO, load_config
from cnn_jax.tasks import classification
from cnn_jax.train.checkpoint import Checkpointer
from cnn_jax.train.pretrained import workdir_variables

STEPS = 30
OVERRIDES = [f'--config.train.steps={STEPS}', '--config.train.log_every=1',
             f'--config.train.eval_every={STEPS}', f'--config.train.checkpoint_every={STEPS}']


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _launch(workdir, *extra: str) -> list[subprocess.Popen]:
  port = _free_port()
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  return [subprocess.Popen(
      [sys.executable, str(REPO / 'launch.py'), '--config', 'experiments/lenet5_mnist.py:smoke',
       '--workdir', str(workdir), f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
       f'--process_id={i}', *OVERRIDES, *extra], cwd=REPO, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]


def _losses(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [r['train/loss'] for r in map(json.loads, f) if 'train/loss' in r]


def _steps_logged(workdir) -> int:
  try:
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      return max([json.loads(l)['step'] for l in f if l.strip()] or [0])
  except (FileNotFoundError, ValueError):
    return 0


@pytest.fixture(scope='module')
def two_process_run(tmp_path_factory):
  """An uninterrupted 2-process run: (workdir, [(stdout, stderr)] of processes 0 and 1)."""
  workdir = tmp_path_factory.mktemp('two')
  procs = _launch(workdir)
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return workdir, outs


def test_two_processes_train_like_one(two_process_run, tmp_path, no_pictures):
  workdir, outs = two_process_run
  assert 'process 1 of 2' in outs[1][1] and '4 global devices' in outs[0][1]
  assert 'test accuracy' in outs[0][1]

  # The same run in this process: 4 devices, 1 process, the same global batches.
  config = load_config('lenet5_mnist')
  config.train.update(steps=STEPS, log_every=1, eval_every=STEPS, checkpoint_every=STEPS)
  one = classification.run(config, str(tmp_path / 'one'))
  # Float sums over the batch are split differently across processes: agree to 1e-5.
  two_losses, one_losses = _losses(workdir), _losses(tmp_path / 'one')
  assert len(two_losses) == len(one_losses) == STEPS - 1  # step 1 is the compile step
  np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
  two_eval = [json.loads(l) for l in open(workdir / 'metrics.jsonl') if 'eval/accuracy' in l][-1]
  assert two_eval['eval/accuracy'] == one.eval['accuracy']


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_at_one_step_and_resumes_bit_equal(
    two_process_run, tmp_path):
  workdir = tmp_path / 'cut'
  every = '--config.train.preemption_check_every=4'  # the flags are combined every 4 steps
  procs = _launch(workdir, every)
  deadline = time.time() + 300
  while _steps_logged(workdir) < 3 and time.time() < deadline and procs[0].poll() is None:
    time.sleep(0.01)
  procs[1].send_signal(signal.SIGTERM)  # process 1 only: a single preempted host
  outs = [p.communicate(timeout=300) for p in procs]
  assert [p.returncode for p in procs] == [143, 143], [e[-2000:] for _, e in outs]
  for _, err in outs:
    assert 'Stopped by SIGTERM; checkpoint saved' in err
  stopped = Checkpointer(str(workdir)).latest_step()
  assert 3 <= stopped < STEPS and stopped % 4 == 0, stopped
  # One checkpoint, written by both: each process's part of the same step is there.
  parts = os.listdir(workdir / 'checkpoints' / str(stopped) / 'default')
  assert {'ocdbt.process_0', 'ocdbt.process_1'} <= set(parts), parts

  procs = _launch(workdir, every)
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  whole = workdir_variables(str(two_process_run[0]))
  resumed = workdir_variables(str(workdir))
  same = jax.tree.map(lambda a, b: np.array_equal(np.asarray(a), np.asarray(b)), whole, resumed)
  assert all(jax.tree.leaves(same))
