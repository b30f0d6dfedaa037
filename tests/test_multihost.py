"""A real 2-process jax.distributed run on 127.0.0.1 (gloo collectives) agrees with 1 process."""
import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import REPO, load_config
from cnn_jax.tasks import classification


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _losses(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [r['train/loss'] for r in map(json.loads, f) if 'train/loss' in r]


def test_two_processes_train_like_one(tmp_path):
  overrides = ['--config.train.steps=8', '--config.train.log_every=1', '--config.train.eval_every=8',
               '--config.train.checkpoint_every=8']
  port = _free_port()
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=2')
  workdir = tmp_path / 'two'
  procs = [subprocess.Popen(
      [sys.executable, str(REPO / 'launch.py'), '--config', 'experiments/lenet5_mnist.py:smoke',
       '--workdir', str(workdir), f'--coordinator_address=127.0.0.1:{port}', '--num_processes=2',
       f'--process_id={i}', *overrides], cwd=REPO, env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True) for i in range(2)]
  outs = [p.communicate(timeout=400) for p in procs]
  for p, (_, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  assert 'process 1 of 2' in outs[1][1] and '4 global devices' in outs[0][1]
  assert 'test accuracy' in outs[0][1]

  # The same run in this process: 4 devices, 1 process, the same global batches.
  config = load_config('lenet5_mnist')
  config.train.update(steps=8, log_every=1, eval_every=8, checkpoint_every=8)
  one = classification.run(config, str(tmp_path / 'one'))
  # Float sums over the batch are split differently across processes: agree to 1e-5.
  two_losses, one_losses = _losses(workdir), _losses(tmp_path / 'one')
  assert len(two_losses) == len(one_losses) == 7  # step 1 is the compile step
  np.testing.assert_allclose(two_losses, one_losses, rtol=1e-5)
  two_eval = [json.loads(l) for l in open(workdir / 'metrics.jsonl') if 'eval/accuracy' in l][-1]
  assert two_eval['eval/accuracy'] == one.eval['accuracy']
