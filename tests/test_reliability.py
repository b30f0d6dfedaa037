"""Damaged checkpoints and unwritable workdirs, with `fit` on a tiny hand-written step.

The step is plain Python (no model, no compile), so each case costs milliseconds: params
p_k = p_{k-1} * 0.5 + k, which makes every step's parameters distinct and checkable by hand.
"""
import logging as std_logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnn_jax.train.checkpoint import MANIFEST, Checkpointer, damage
from cnn_jax.train.loop import fit
from cnn_jax.train.state import TrainState
from cnn_jax.train.workdir import WorkdirNotWritableError, check_writable


def _state():
  return TrainState.create({'w': jnp.zeros(64, jnp.float32)}, {}, optax.identity(),
                           jax.random.key(0))


def _step(state, batch):
  k = state.step + 1
  return state.replace(step=k, params={'w': state.params['w'] * 0.5 + k}), {'loss': jnp.float32(k)}


def _expected_w(step):
  w = 0.0
  for k in range(1, step + 1):
    w = w * 0.5 + k
  return w


def _train(workdir, steps):
  return fit(_state(), _step, None, workdir=str(workdir), steps=steps, checkpoint_every=2,
             keep_checkpoints=3, show_progress=False)


def _largest_file(step_dir):
  files = [os.path.join(r, n) for r, _, ns in os.walk(step_dir) for n in ns if n != MANIFEST]
  return max(files, key=os.path.getsize)


def _truncate(step_dir):
  path = _largest_file(step_dir)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) // 2)
  return 'bytes, '


def _delete(step_dir):
  os.remove(_largest_file(step_dir))
  return 'is missing'


def _garbage(step_dir):
  path = _largest_file(step_dir)
  size = os.path.getsize(path)
  with open(path, 'wb') as f:
    f.write(np.random.default_rng(0).bytes(size))  # same size: only the digest can tell
  return 'SHA-256 mismatch'


@pytest.mark.parametrize('spoil', [_truncate, _delete, _garbage])
def test_damaged_newest_checkpoint_resumes_from_the_previous_one(tmp_path, spoil, caplog):
  first = _train(tmp_path, 6)  # checkpoints at steps 2, 4, 6
  assert float(first.state.params['w'][0]) == _expected_w(6)
  ckpt = Checkpointer(str(tmp_path))
  assert ckpt.latest_step() == 6 and damage(ckpt.step_dir(6)) is None
  why = spoil(ckpt.step_dir(6))
  assert why in damage(ckpt.step_dir(6))
  ckpt.close()

  with caplog.at_level(std_logging.WARNING):
    second = _train(tmp_path, 8)
  assert second.resumed_from == 4  # the newest intact checkpoint
  assert float(second.state.params['w'][0]) == _expected_w(8)
  message = ' '.join(r.getMessage() for r in caplog.records)
  assert 'step 6' in message and 'damaged' in message and why in message
  # the evidence is kept, under a name Orbax does not take for a step
  assert os.path.isdir(tmp_path / 'checkpoints' / '6.corrupt-1')
  assert Checkpointer(str(tmp_path)).latest_step() == 8


def test_every_checkpoint_damaged_starts_afresh_and_keeps_them_all(tmp_path, caplog):
  _train(tmp_path, 2)
  _delete(os.path.join(tmp_path, 'checkpoints', '2'))
  with caplog.at_level(std_logging.WARNING):
    again = _train(tmp_path, 2)
  assert again.resumed_from is None and float(again.state.params['w'][0]) == _expected_w(2)
  assert 'training starts from step 0' in caplog.text
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['2', '2.corrupt-1']


@pytest.mark.parametrize('every, sigterm_at, stops_at', [(1, 3, 3), (4, 3, 4), (4, 9, 12)])
def test_preemption_checked_every_n_steps_stops_every_process_at_one_step(
    tmp_path, monkeypatch, every, sigterm_at, stops_at):
  """Several processes (simulated: process_count 2, the all-gather replaced by a recorder):
  SIGTERM reaches the other process during step `sigterm_at`; the flags are combined only
  at multiples of `every`, so every process (all call the all-gather at the same steps and
  get the same answer) stops at the first multiple after it, with its checkpoint."""
  from cnn_jax.train import loop
  checks, done = [], [0]  # steps at which the all-gather ran; steps run so far

  def any_process(flag):  # the other process's flag is up from step `sigterm_at` on
    checks.append(done[0])
    return flag or done[0] >= sigterm_at

  def step(state, batch):
    done[0] += 1
    return _step(state, batch)

  monkeypatch.setattr(loop, '_any_process', any_process)

  class TwoProcessJax:  # loop's view of jax only (orbax must still see one process)
    process_count = staticmethod(lambda: 2)
    __getattr__ = lambda self, name: getattr(jax, name)

  monkeypatch.setattr(loop, 'jax', TwoProcessJax())
  result = fit(_state(), step, None, workdir=str(tmp_path), steps=20, show_progress=False,
               preemption_check_every=every)
  assert result.interrupted and int(result.state.step) == stops_at
  assert checks == list(range(every, stops_at + 1, every))  # one all-gather per N steps
  assert Checkpointer(str(tmp_path)).latest_step() == stops_at
  with pytest.raises(ValueError, match='config.train.preemption_check_every=0 must be >= 1'):
    fit(_state(), _step, None, workdir=str(tmp_path / 'x'), steps=2, preemption_check_every=0)


def test_unwritable_workdir_fails_before_training(tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  calls = []
  step = lambda s, b: (calls.append(1), _step(s, b))[1]
  with pytest.raises(WorkdirNotWritableError, match=r'Cannot write to workdir.*--workdir'):
    fit(_state(), step, None, workdir=str(blocker / 'run'), steps=2, show_progress=False)
  assert not calls
  if os.geteuid() != 0:  # root writes through mode bits: only a non-root user can test 0o555
    ro = tmp_path / 'ro'
    ro.mkdir()
    ro.chmod(0o555)
    with pytest.raises(WorkdirNotWritableError, match='Permission denied'):
      check_writable(str(ro))
  with pytest.raises(WorkdirNotWritableError, match='Cannot write'):
    check_writable('/proc/cnn_jax_run')  # a read-only place, even for root


def test_device_out_of_memory_names_the_key_to_lower(tmp_path):
  import jax
  from cnn_jax.train.loop import DeviceOutOfMemoryError

  def step(state, batch):
    if int(state.step) == 2:  # what XLA raises when an allocation fails
      raise jax.errors.JaxRuntimeError('RESOURCE_EXHAUSTED: Out of memory while trying to '
                                       'allocate 17179869184 bytes.')
    return _step(state, batch)

  with pytest.raises(DeviceOutOfMemoryError, match=r'train step 3 \(32 img per step\)'
                     r'.*config\.data\.batch_size.*17179869184 bytes') as e:
    fit(_state(), step, None, workdir=str(tmp_path), steps=5, items_per_step=32, unit='img',
        show_progress=False)
  assert isinstance(e.value, MemoryError)


def test_empty_train_split_is_named():
  from cnn_jax.data.dataset import ArraySplit
  from cnn_jax.data.pipeline import train_batches
  empty = ArraySplit(np.zeros((0, 4, 4, 1), np.uint8), np.zeros(0, np.int32))
  with pytest.raises(ValueError, match=r'train split is empty.*config\.data\.dir'):
    train_batches(empty, 4, lambda x: x, seed=0)


def test_init_from_a_workdir_without_checkpoints(tmp_path):
  from cnn_jax.train.pretrained import workdir_variables
  with pytest.raises(FileNotFoundError, match=r'No checkpoints in .*config\.init_from must be'):
    workdir_variables(str(tmp_path))


def test_batch_not_divisible_by_processes():
  from cnn_jax.data.dataset import ArraySplit
  from cnn_jax.data.pipeline import train_batches
  split = ArraySplit(np.zeros((8, 4, 4, 1), np.uint8), np.zeros(8, np.int32))
  with pytest.raises(ValueError, match=r'config\.data\.batch_size 5 must be divisible by the 2 '):
    train_batches(split, 5, lambda x: x, seed=0, num_processes=2)


def test_errors_catalogue_names_real_tests():
  """docs/errors.md: >= 40 distinct checks, and every test it names exists."""
  import ast
  import re
  from conftest import REPO
  text = (REPO / 'docs' / 'errors.md').read_text()
  rows = re.findall(r'^\| (\d+) \|.*`(tests/\w+\.py)::(\w+)` \|$', text, re.M)
  assert len({n for n, _, _ in rows}) >= 40
  defined = {}
  for _, path, name in rows:
    if path not in defined:
      tree = ast.parse((REPO / path).read_text())
      defined[path] = {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    assert name in defined[path], f'docs/errors.md names {path}::{name}, which does not exist'


def test_resize_centre_crop_by_hand():
  from cnn_jax.data.transforms import resize_centre_crop
  image = np.arange(16 * 20 * 3, dtype=np.uint8).reshape(16, 20, 3)
  # shorter side already round(14 * 256/224) = 16: no resampling, the centre 14x14 crop
  np.testing.assert_array_equal(resize_centre_crop(image, 14), image[1:15, 3:17])
  flat = np.full((37, 23, 3), 200, np.uint8)  # shrinking a constant image keeps it constant
  out = resize_centre_crop(flat, 14)
  assert out.shape == (14, 14, 3) and np.all(out == 200)
  tall = np.zeros((50, 8, 1), np.uint8)  # upsampling too: shorter side 8 -> 16, then 14x14
  assert resize_centre_crop(tall, 14).shape == (14, 14, 1)


def test_imagenet_recipe_runs_on_mock_variable_size_images(tmp_path, no_pictures):
  """tfds:imagenet2012 end to end: mock images of varying sizes, resized and centre-cropped
  on the host, evaluated on the 'validation' split (a LeNet-5 head keeps it cheap)."""
  import tensorflow_datasets as tfds
  from conftest import load_config
  from cnn_jax.data import sources
  from cnn_jax.tasks import classification
  config = load_config('resnet_imagenet')
  config.model = dict(name='lenet5')
  config.data.update(image_size=32, channels=1, batch_size=4, eval_batch_size=4)
  config.train.update(steps=2, eval_every=0, checkpoint_every=0)
  with tfds.testing.mock_data(num_examples=6):
    dataset = sources.load('tfds:imagenet2012')
    sizes = {dataset.test.get(np.array([i]))['image'][0].shape for i in range(6)}
    assert len(sizes) > 1  # the mock really gives different sizes
    result = classification.run(config, str(tmp_path))
  assert int(result.state.step) == 2 and int(result.eval['count']) == 6
  # training batches were Inception crops of the decoded images, made on the host
  assert config.data.host_augment.startswith('inception_crop') and not config.data.augment
  assert classification.Classification(config).host_augment() is not None
