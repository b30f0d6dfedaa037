"""Test-time multi-crop and ensembles (ops/multicrop.py, tasks/_test_time.py).

- The ten crops are numpy slices at hand-computed offsets, in torchvision's TenCrop order
  (five crops of the image, then five crops of its mirror).
- The probability average is the formula (1 / V) sum_v softmax(logits_v), in numpy.
- The ten_crop evaluator of a trained smoke run equals a numpy reference: the run's
  checkpoint applied to numpy-sliced crops, softmax averaged in numpy.
- An ensemble of a run with itself (its checkpoint as the member) equals the run alone.
- Members trained at another input size or for other classes are refused, naming the workdir.
"""
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, pictures_off
from cnn_jax.data import sources
from cnn_jax.data.transforms import prepare_images
from cnn_jax.ops import multicrop
from cnn_jax.tasks import _supervised, _test_time, classification
from cnn_jax.train import sharding
from cnn_jax.train.pretrained import workdir_variables


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_ten_crop_is_the_corner_and_centre_slices_then_those_of_the_mirror():
  x = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
  got = np.asarray(multicrop.ten_crop(x, 3))
  # 5 x 6 image, crop 3: bottom = 2, right = 3, centre (1, 1)
  offsets = [(0, 0), (0, 3), (2, 0), (2, 3), (1, 1)]
  m = x[:, :, ::-1]
  want = [x[:, t:t + 3, l:l + 3] for t, l in offsets] + [m[:, t:t + 3, l:l + 3] for t, l in offsets]
  np.testing.assert_array_equal(got, np.stack(want))
  # crops of the mirror = mirrors of the opposite corners' crops (tl <-> tr, bl <-> br)
  np.testing.assert_array_equal(got[5], got[1][:, :, ::-1])
  # the centre too when the margins are even (here W - 3 = 3 is odd: floor puts it 1 px off)
  assert not np.array_equal(got[9], got[4][:, :, ::-1])
  even = np.asarray(multicrop.ten_crop(x[:, :, :5], 3))
  np.testing.assert_array_equal(even[9], even[4][:, :, ::-1])
  np.testing.assert_array_equal(np.asarray(multicrop.flip_views(x)), np.stack([x, m]))


def test_average_probabilities_is_the_mean_softmax_and_bad_input_is_named():
  logits = np.random.default_rng(0).normal(size=(3, 4, 5)).astype(np.float32)
  np.testing.assert_allclose(np.asarray(multicrop.average_probabilities(logits)),
                             _softmax(logits).mean(0), rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match='config.eval.multicrop'):
    multicrop.views(np.zeros((1, 4, 4, 1)), 'six_crop', 2)
  with pytest.raises(ValueError, match='NHWC'):
    multicrop.ten_crop(np.zeros((4, 4, 1)), 2)
  with pytest.raises(ValueError, match='crop_border'):
    multicrop.ten_crop(np.zeros((1, 4, 4, 1)), 5)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  """A 6-step lenet5 run on scikit-learn's digits, with the ten_crop evaluator."""
  workdir = str(tmp_path_factory.mktemp('tta') / 'a')
  config = load_config('lenet5_digits')
  config.train.update(steps=6, eval_every=6, checkpoint_every=6)
  config.eval.update(multicrop='ten_crop', crop_border=2)
  with pictures_off():
    result = classification.run(config, workdir)
  with open(os.path.join(workdir, 'config.json'), 'w') as f:  # what launch.py records
    json.dump(config.to_dict(), f)
  return config, workdir, result


def test_ten_crop_evaluator_matches_a_numpy_reference(trained):
  config, workdir, result = trained
  d = config.data
  test = sources.load(d.name).test
  examples = test.get(np.arange(len(test)))
  big = prepare_images(examples['image'], d.image_size + 4, d.resize, d.channels)
  s = d.image_size
  offsets = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2)]
  crops = [im[:, t:t + s, l:l + s] for im in (big, big[:, :, ::-1]) for t, l in offsets]
  model = classification.Classification(config).build_model(sources.load(d.name))
  apply = jax.jit(lambda v, x: model.apply(v, x, train=False))
  variables = workdir_variables(workdir)
  probs = np.mean([_softmax(np.asarray(apply(variables, c), np.float64)) for c in crops], 0)
  labels = examples['label']
  np.testing.assert_allclose(result.eval['ten_crop_accuracy'],
                             np.mean(probs.argmax(-1) == labels), atol=1e-6)
  np.testing.assert_allclose(result.eval['ten_crop_loss'],
                             -np.log(probs[np.arange(len(labels)), labels]).mean(), rtol=1e-4)


def test_ensemble_of_a_run_with_itself_equals_the_run_and_bad_members_are_named(trained, tmp_path):
  config, workdir, result = trained
  task = classification.Classification(config)
  dataset = task.load_data()
  mesh = sharding.make_mesh(0)
  r = _supervised.Run(task, config, workdir, mesh, dataset, task.build_model(dataset),
                      _supervised.make_normalize(config.data.normalize))
  state = _test_time.member_state(_test_time.load_member(workdir, config, 10), mesh)
  out = _test_time.ensemble_evaluator(r, (workdir,))(state)   # mean of two equal softmaxes
  assert out['ensemble_size'] == 2.0
  np.testing.assert_allclose(out['ensemble_accuracy'], result.eval['accuracy'], atol=1e-6)
  np.testing.assert_allclose(out['ensemble_loss'], result.eval['loss'], rtol=1e-4)

  other = tmp_path / 'other_size'
  shutil.copytree(workdir, other)
  recorded = json.loads((other / 'config.json').read_text())
  recorded['data']['image_size'] = 28
  (other / 'config.json').write_text(json.dumps(recorded))
  with pytest.raises(ValueError, match=f"{other}.*image_size=28"):
    _test_time.load_member(str(other), config, 10)
  with pytest.raises(ValueError, match=f"{workdir}.*10 classes but this run has 5"):
    _test_time.load_member(workdir, config, 5)

  old = tmp_path / 'before_compute_dtype'  # a run recorded before the key existed: float32
  shutil.copytree(workdir, old)
  recorded = json.loads((old / 'config.json').read_text())
  del recorded['train']['compute_dtype']
  (old / 'config.json').write_text(json.dumps(recorded))
  member = _test_time.load_member(str(old), config, 10)
  assert member.model.dtype == jnp.float32
