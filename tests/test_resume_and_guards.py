"""Whole runs in-process: SIGTERM + resume is bitwise exact, NaN stops with the good
checkpoint intact, finished runs do nothing more, configs cannot be mixed in a workdir."""
import json
import os
import signal
import threading
import time

import jax
import numpy as np
import pytest

from cnn_jax.tasks import classification
from cnn_jax.train.checkpoint import Checkpointer
from cnn_jax.train.pretrained import workdir_variables
from cnn_jax.train.workdir import WorkdirConfigError, check_and_record_config


def _steps_logged(workdir):
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return 0
  with open(path) as f:
    return max([json.loads(l)['step'] for l in f if l.strip()] or [0])


def _sigterm_when(workdir, step):
  """Sends this process a real SIGTERM once metrics.jsonl reaches `step`."""
  def watch():
    deadline = time.time() + 120
    while _steps_logged(workdir) < step and time.time() < deadline:
      time.sleep(0.005)
    os.kill(os.getpid(), signal.SIGTERM)
  t = threading.Thread(target=watch, daemon=True)
  t.start()
  return t


def _tree_equal(a, b):
  return all(jax.tree.leaves(jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


def test_sigterm_then_resume_is_bitwise_equal_to_an_uninterrupted_run(smoke_config, tmp_path,
                                                                      no_pictures):
  config = smoke_config
  config.train.update(steps=60, log_every=1, eval_every=0, checkpoint_every=1000)
  whole = classification.run(config, str(tmp_path / 'whole'))

  cut = str(tmp_path / 'cut')
  watcher = _sigterm_when(cut, 5)
  first = classification.run(config, cut)
  watcher.join()
  assert first.interrupted, 'the run finished before SIGTERM arrived'
  stopped_at = int(first.state.step)
  assert 5 <= stopped_at < 60
  assert Checkpointer(cut).latest_step() == stopped_at

  second = classification.run(config, cut)
  assert second.resumed_from == stopped_at and not second.interrupted
  assert _tree_equal(whole.state.params, second.state.params)
  assert _tree_equal(whole.state.opt_state, second.state.opt_state)
  # metrics.jsonl has each step exactly once after the resume
  with open(os.path.join(cut, 'metrics.jsonl')) as f:
    steps = [json.loads(l)['step'] for l in f if 'train/loss' in l]
  assert steps == sorted(set(steps)) and steps[-1] == 60

  third = classification.run(config, cut)  # complete: nothing more happens
  assert third.resumed_from == 60 and third.eval is None


def test_nan_stops_naming_the_step_and_keeps_the_last_good_checkpoint(smoke_config, tmp_path,
                                                                      no_pictures):
  config = smoke_config
  config.unlock()
  # lr jumps to 2e27 at update 5: the parameters overflow at step 5
  config.schedule = dict(name='step', boundaries=[4], decay_rate=1e30)
  config.train.update(steps=12, checkpoint_every=2, eval_every=0)
  workdir = str(tmp_path / 'nan')
  with pytest.raises(FloatingPointError, match=r'(update_norm|loss|grad_norm) = (nan|inf) at step 5') as e:
    classification.run(config, workdir)
  assert 'checkpoint of step 4' in str(e.value)
  ckpt = Checkpointer(workdir)
  assert ckpt.latest_step() == 4
  restored = workdir_variables(workdir)  # the newest complete checkpoint: step 4
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored['params']))


def test_workdir_refuses_a_different_config(tmp_path):
  check_and_record_config(str(tmp_path), {'train': {'steps': 12}, 'model': {'name': 'lenet5'}})
  check_and_record_config(str(tmp_path), {'train': {'steps': 12}, 'model': {'name': 'lenet5'}})
  with pytest.raises(WorkdirConfigError, match=r'(?s)train.steps: 12 -> 9.*--allow_config_change'):
    check_and_record_config(str(tmp_path), {'train': {'steps': 9}, 'model': {'name': 'lenet5'}})
  check_and_record_config(str(tmp_path), {'train': {'steps': 9}}, allow_change=True)
  with open(tmp_path / 'config.json') as f:
    assert json.load(f) == {'train': {'steps': 9}}


def test_input_shape_the_model_cannot_take(smoke_config, tmp_path):
  config = smoke_config
  config.data.update(name='digits', image_size=8, resize='resize')
  with pytest.raises(ValueError, match=r"Layer 'CONV2'.*config.data.image_size"):
    classification.run(config, str(tmp_path))


def test_num_classes_mismatch_and_unknown_dataset(smoke_config, tmp_path):
  config = smoke_config
  config.model.num_classes = 5
  with pytest.raises(ValueError, match='num_classes=5 but dataset'):
    classification.run(config, str(tmp_path))
  config.model.num_classes = 10
  config.data.name = 'minst'
  with pytest.raises(ValueError, match=r"Unknown dataset 'minst'.*fashion_mnist"):
    classification.run(config, str(tmp_path))
