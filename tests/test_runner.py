"""The supervised runner (tasks/_supervised.py) and the train library's seams under it.

- `lenet5_mnist:smoke` gives bit-identical parameters to the fixture made before the runner
  was extracted (tests/fixtures/make_lenet5_smoke_params.py, at 6d2da49).
- A toy task through the whole contract: its own data and model, `prepare`, an objective,
  a masked-sum evaluator and a host-side accumulator (the evaluate callback), replicated
  constants, pictures in the workdir and in TensorBoard. Numbers are checked against numpy
  on the final parameters and against the same run with the constant folded into the data.
- An image pytree optimised under a frozen network's feature loss through `make_train_step`
  (constants) + `fit` (no dataset): SIGTERM, then a resume bit-identical to an
  uninterrupted run.
- Every classification experiment lists exactly the family base config's keys.
"""
import glob
import json
import os
import pathlib
import runpy
import signal

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import REPO, load_config
from cnn_jax.data import sources
from cnn_jax.tasks import _supervised, classification
from cnn_jax.train import loop, optim, sharding
from cnn_jax.train.state import TrainState
from cnn_jax.train.step import make_train_step
from cnn_jax.train.writers import MetricWriter

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'


def _tree_equal(a, b) -> bool:
  return all(jax.tree.leaves(jax.tree.map(
      lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)))


@pytest.mark.xla_optimized  # the fixture holds the bits of the optimised program
def test_lenet5_smoke_params_are_bit_identical_to_the_pre_runner_fixture(tmp_path, no_pictures):
  result = classification.run(load_config('lenet5_mnist'), str(tmp_path))
  flat = flax.traverse_util.flatten_dict(jax.device_get(result.state.params), sep='/')
  want = np.load(FIXTURES / 'lenet5_smoke_params.npz')
  assert sorted(flat) == sorted(want.files)
  for k in want.files:
    np.testing.assert_array_equal(np.asarray(flat[k]), want[k], err_msg=k)


# --- a toy task through the whole contract --------------------------------------------------

class Linear(nn.Module):
  """logits = flatten(x) @ W + b: small enough to check against numpy."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    return nn.Dense(2)(x.reshape(x.shape[0], -1))


class HostAccuracy:
  """A host-side accumulator (the CocoEvaluator kind): counts correct real examples."""

  def __init__(self):
    self.correct = self.count = 0

  def update(self, outputs, targets):
    real = targets['mask'] > 0
    self.correct += int(np.sum((np.argmax(outputs, -1) == targets['label'])[real]))
    self.count += int(real.sum())

  def result(self):
    return {'host_accuracy': self.correct / self.count, 'host_count': self.count}


class Toy(_supervised.Task):
  """Is a 4x4 patch bright? `gain` multiplies the images: as a replicated constant given to
  `inputs` (constant=True) or on the host in `prepare` (constant=False)."""
  unit, progress = 'patch', ('loss', 'accuracy')

  def __init__(self, config, gain: float, constant: bool):
    super().__init__(config)
    self.gain, self.constant = gain, constant

  def load_data(self):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (34, 4, 4, 1)).astype(np.uint8)
    y = (x.reshape(34, -1).mean(1) > 127).astype(np.int32)
    split = lambda s: sources.ArraySplit(x[s], y[s])
    return sources.Dataset('toy', split(slice(0, 24)), split(slice(24, 34)), 2, ('dark', 'bright'))

  def build_model(self, dataset):
    return Linear()

  def prepare(self, examples):
    scale = 1.0 if self.constant else self.gain
    return {'image': examples['image'].astype(np.float32) / 255 * scale,
            'label': examples['label']}

  def constants(self, run):
    return {'gain': jnp.float32(self.gain)} if self.constant else None

  def inputs(self, batch, *constants):
    return batch['image'] * constants[0]['gain'] if constants else batch['image']

  def objective(self, logits, batch, *constants):
    loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), batch['label'][:, None], 1))
    return loss, {'accuracy': jnp.mean(jnp.argmax(logits, -1) == batch['label'])}

  def evaluators(self, run):
    per_example = lambda logits, batch: {
        'accuracy': (jnp.argmax(logits, -1) == batch['label']).astype(jnp.float32)}
    return {'sums': run.masked_means(per_example),
            'host': run.accumulate(lambda logits, batch: logits, HostAccuracy,
                                   batch_keys=('label', 'mask'))}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz.figures import plt, save_png
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow(np.asarray(state.params['Dense_0']['kernel'])[:, :1].reshape(4, 4))
    return {'kernel': save_png(fig, run.path('kernel.png'))}


def _toy_config():
  config = runpy.run_path(str(REPO / 'experiments' / '_classification.py'))['base']()
  config.data.update(name='toy', batch_size=8, eval_batch_size=4)  # 10 test = 3 batches, 2 padding
  config.optimizer.update(name='sgd', learning_rate=0.5)
  config.schedule.update(name='constant')
  config.train.update(steps=6, log_every=2, eval_every=3, checkpoint_every=6)
  return config


def test_toy_task_through_the_runner_contract(tmp_path):
  with_constant = _supervised.run(Toy(_toy_config(), 2.0, True), str(tmp_path / 'a'))
  on_host = _supervised.run(Toy(_toy_config(), 2.0, False), str(tmp_path / 'b'))
  # the replicated constant reaches the model exactly as the same factor applied on the host
  for a, b in zip(jax.tree.leaves(with_constant.state.params), jax.tree.leaves(on_host.state.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)

  ev = with_constant.eval
  params = jax.device_get(with_constant.state.params)['Dense_0']
  test = Toy(_toy_config(), 2.0, False)
  data = test.load_data().test.get(np.arange(10))
  logits = test.prepare(data)['image'].reshape(10, -1) @ params['kernel'] + params['bias']
  want = float(np.mean(np.argmax(logits, -1) == data['label']))
  assert ev['count'] == 10 and ev['host_count'] == 10  # padding excluded both ways
  assert ev['accuracy'] == pytest.approx(want, abs=1e-7) and ev['host_accuracy'] == pytest.approx(want)

  workdir = tmp_path / 'a'
  records = [json.loads(l) for l in (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert [r['step'] for r in records if 'eval/host_accuracy' in r] == [3, 6]
  assert all('train/patch_per_sec' in r for r in records if 'train/loss' in r)
  assert (workdir / 'kernel.png').stat().st_size > 0 and (workdir / 'curves.png').exists()
  from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
  from tensorboard.compat.proto.event_pb2 import Event
  events = [Event.FromString(r) for f in glob.glob(str(workdir / 'tensorboard' / '*'))
            for r in RawEventFileLoader(f).Load()]
  tags = {v.tag for e in events for v in e.summary.value if v.HasField('image')}
  assert tags == {'pictures/kernel', 'pictures/curves'}


def test_evaluators_with_the_same_metric_name_are_refused(tmp_path):
  class Twice(Toy):
    def evaluators(self, run):
      fn = run.masked_means(lambda logits, batch: {'accuracy': jnp.zeros(logits.shape[0])})
      return {'one': fn, 'two': fn}

  with pytest.raises(ValueError, match="'one' and 'two' both return 'accuracy'"):
    _supervised.run(Twice(_toy_config(), 1.0, False), str(tmp_path))


# --- an image optimised under a frozen network: constants + no dataset ------------------------

class Features(nn.Module):
  """A small frozen 'feature network': conv 3x3 -> relu -> conv 3x3."""

  @nn.compact
  def __call__(self, x):
    return nn.Conv(4, (3, 3))(nn.relu(nn.Conv(4, (3, 3))(x)))


def _image_problem(mesh):
  net = Features()
  target_image = jax.random.uniform(jax.random.key(0), (1, 8, 8, 3))
  frozen = net.init(jax.random.key(1), target_image)
  constants = sharding.replicate({'net': frozen, 'target': net.apply(frozen, target_image)}, mesh)

  def loss_fn(params, model_state, batch, key, constants):
    assert batch is None  # fit gives no data
    feats = net.apply(constants['net'], params['image'])
    return jnp.mean((feats - constants['target']) ** 2), (model_state, {})

  opt = ml_collections.ConfigDict(dict(name='adam', learning_rate=0.05))
  tx, schedule = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 100)
  params = {'image': jnp.full((1, 8, 8, 3), 0.5)}
  state = sharding.replicate(TrainState.create(params, {}, tx, jax.random.key(2)), mesh)
  step = make_train_step(loss_fn, tx, mesh, schedule, constants=True)
  return state, step, constants


def test_image_pytree_under_frozen_features_resumes_bit_exactly_after_sigterm(tmp_path):
  mesh = sharding.make_mesh()
  steps = 40

  def fit(workdir, stop_at=None):
    state, step, constants = _image_problem(mesh)
    sent = []

    def train_step(state, batch):
      if stop_at is not None and not sent and int(state.step) == stop_at:
        sent.append(True)
        os.kill(os.getpid(), signal.SIGTERM)  # a real signal, caught by fit between steps
      return step(state, batch, constants)

    writer = MetricWriter(workdir)
    try:
      return loop.fit(state, train_step, None, workdir=workdir, steps=steps, log_every=1,
                      checkpoint_every=1000, writer=writer, show_progress=False)
    finally:
      writer.close()

  whole = fit(str(tmp_path / 'whole'))
  losses = [json.loads(l)['train/loss'] for l in open(tmp_path / 'whole' / 'metrics.jsonl')]
  assert losses[-1] < 0.2 * losses[0]  # the image moved toward the target's features
  assert all('train/step_per_sec' in json.loads(l) for l in open(tmp_path / 'whole' / 'metrics.jsonl'))

  cut = str(tmp_path / 'cut')
  first = fit(cut, stop_at=5)
  assert first.interrupted and 5 <= int(first.state.step) < steps
  second = fit(cut)
  assert second.resumed_from == int(first.state.step) and not second.interrupted
  assert _tree_equal(whole.state.params, second.state.params)
  assert _tree_equal(whole.state.opt_state, second.state.opt_state)
  assert set(second.state.params) == {'image'}  # the frozen network is not in the state


# --- configs ---------------------------------------------------------------------------------

def _keys(config, skip=('model',)) -> set[str]:
  flat = flax.traverse_util.flatten_dict(config.to_dict(), sep='.')
  return {k for k in flat if k.split('.')[0] not in skip}


def test_every_classification_experiment_lists_exactly_the_base_keys():
  base = runpy.run_path(str(REPO / 'experiments' / '_classification.py'))['base']()
  assert set(optim.OPTIMIZER_DEFAULTS) | {'name', 'learning_rate'} == set(base.optimizer)
  assert set(optim.SCHEDULE_DEFAULTS) | {'name'} == set(base.schedule)
  names = [pathlib.Path(p).stem for p in glob.glob(str(REPO / 'experiments' / '*.py'))]
  checked = 0
  for name in sorted(n for n in names if not n.startswith('_')):
    get_config = runpy.run_path(str(REPO / 'experiments' / f'{name}.py'))['get_config']
    try:
      config = get_config()
    except ValueError:  # needs an argument (e.g. summary.py:<model>): not a training recipe
      continue
    if config.task != 'classification':
      continue
    for variant in (config, get_config('smoke')):
      assert _keys(variant) == _keys(base), name
    checked += 1
  assert checked >= 24  # 4 LeNet-5, 6 CIFAR-10, 6 Fashion-MNIST, 5 ImageNet, 3 transfer


def test_sampler_batches_are_a_function_of_the_step_split_over_processes():
  """A task's sampler (e.g. P identities x K images) replaces the shuffled epochs: global
  batch k is sampler(k), resumable at any step, process p of P taking every P-th index."""
  from cnn_jax.data import pipeline
  split = sources.ArraySplit(np.zeros((20, 2, 2, 1), np.uint8), np.arange(20, dtype=np.int32))
  sampler = lambda k: (np.arange(8) * 7 + 3 * k) % 20
  labels = lambda ex: {'label': ex['label']}
  one = pipeline.train_batches(split, 8, labels, seed=0, start_step=2, sampler=sampler)
  assert [next(one)['label'].tolist() for _ in range(2)] == [sampler(2).tolist(), sampler(3).tolist()]
  parts = [next(pipeline.train_batches(split, 8, labels, seed=0, start_step=2, sampler=sampler,
                                       process_index=p, num_processes=2))['label'] for p in (0, 1)]
  assert parts[0].tolist() == sampler(2)[0::2].tolist() and parts[1].tolist() == sampler(2)[1::2].tolist()
  with pytest.raises(ValueError, match=r'sampler gave \(7,\) indices for step 0'):
    next(pipeline.train_batches(split, 8, labels, seed=0, sampler=lambda k: np.arange(7)))


def test_googlenet_aux_logits_train_with_the_weighted_auxiliary_losses():
  """GoogLeNet with aux_logits=True: the objective is CE(main) + 0.3 (CE(aux1) + CE(aux2))
  (Szegedy et al. 2015, sec. 5), checked by hand; the whole train loss traces with it."""
  config = load_config('googlenet_fashion_mnist')
  config.model.aux_logits = True
  task = classification.Classification(config)
  rng = np.random.default_rng(0)
  logits, aux2, aux1 = (jnp.asarray(rng.normal(size=(4, 10)), jnp.float32) for _ in range(3))
  batch = {'label': jnp.array([0, 3, 9, 3])}
  ce = lambda z: float(np.mean(-np.take_along_axis(jax.nn.log_softmax(z), batch['label'][:, None], 1)))
  loss, metrics = task.objective((logits, aux2, aux1), batch)
  assert float(loss) == pytest.approx(ce(logits) + 0.3 * (ce(aux1) + ce(aux2)), rel=1e-6)
  assert float(metrics['main_loss']) == pytest.approx(ce(logits), rel=1e-6)

  model = _supervised.build_model(config, 10)
  assert task.train_kwargs(model) == {'return_aux': True}
  x = jnp.zeros((2, 32, 32, 1))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x, train=False))
  params = variables.pop('params')
  loss_fn = _supervised.make_loss_fn(task, model)
  loss, (_, metrics) = jax.eval_shape(loss_fn, params, variables,
                                      {'image': x, 'label': jnp.zeros(2, jnp.int32)}, jax.random.key(1))
  assert loss.shape == () and set(metrics) == {'accuracy', 'main_loss'}


def test_augmentation_moves_the_task_targets_with_the_images():
  """A task's augment_targets ({batch key: ops.augment sample key}) ride through the runner's
  loss: a certain flip_lr reverses image and mask columns alike, maps landmark x -> W - x
  and swaps the named left/right pair (flip_pairs), all before the objective sees them."""
  from cnn_jax.ops.augment import make_batch_augment

  class Identity(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
      return x

  class Landmarks(_supervised.Task):
    augment_targets = {'segmentation': 'mask', 'landmarks': 'points', 'landmarks_valid': 'points_valid'}

    def augment_kwargs(self):
      return {'flip_pairs': ((0, 1),)}

    def objective(self, outputs, batch):
      return jnp.zeros(()), {'image': outputs, 'segmentation': batch['segmentation'],
                             'landmarks': batch['landmarks'], 'valid': batch['landmarks_valid']}

  task = Landmarks(config=None)
  columns = np.broadcast_to(np.arange(6, dtype=np.float32), (2, 4, 6))
  batch = {'image': jnp.asarray(columns[..., None] / 10), 'segmentation': jnp.asarray(columns.astype(np.int32)),
           'landmarks': jnp.asarray([[[1.0, 2.0], [4.0, 3.0]]] * 2),
           'landmarks_valid': jnp.ones((2, 2), bool)}
  loss_fn = _supervised.make_loss_fn(
      task, Identity(), augment=make_batch_augment('flip_lr(p=1.0)', **task.augment_kwargs()))
  _, (_, out) = loss_fn({}, {}, batch, jax.random.key(0))
  np.testing.assert_array_equal(out['image'][..., 0], columns[..., ::-1] / 10)
  np.testing.assert_array_equal(out['segmentation'], columns[..., ::-1].astype(np.int32))
  # point 0 <- mirrored old point 1 = (6 - 4, 3); point 1 <- mirrored old point 0 = (6 - 1, 2)
  np.testing.assert_allclose(out['landmarks'], [[[2.0, 3.0], [5.0, 2.0]]] * 2)
  assert bool(np.all(out['valid']))


def test_a_task_without_data_optimises_its_parameters_under_constants(tmp_path):
  """The style-transfer shape through the runner: no dataset (load_data -> None), the
  parameters are an image (a one-parameter module), the frozen network and its target
  features are replicated constants reaching the model through `inputs`."""

  class Canvas(nn.Module):
    @nn.compact
    def __call__(self, constants, train: bool = False):
      image = self.param('image', nn.initializers.constant(0.5), (1, 8, 8, 3))
      return Features().apply(constants['net'], image)

  class Match(_supervised.Task):
    unit = 'step'

    def load_data(self):
      return None

    def build_model(self, dataset):
      return Canvas()

    def constants(self, run):
      target = jax.random.uniform(jax.random.key(0), (1, 8, 8, 3))
      net = Features().init(jax.random.key(1), target)
      return {'net': net, 'target': Features().apply(net, target)}

    def init_inputs(self, run):
      return run.constants

    def inputs(self, batch, constants):
      return constants

    def objective(self, features, batch, constants):
      return jnp.mean((features - constants['target']) ** 2), {}

  config = _toy_config()
  config.optimizer.update(name='adam', learning_rate=0.05)
  config.train.update(steps=20, log_every=1, eval_every=0, checkpoint_every=20)
  result = _supervised.run(Match(config), str(tmp_path))
  records = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert records[-1]['train/loss'] < 0.5 * records[0]['train/loss']
  assert all('train/step_per_sec' in r for r in records)
  assert jax.tree.structure(jax.device_get(result.state.params)) == jax.tree.structure({'image': 0})
  assert result.eval is None and (tmp_path / 'curves.png').exists()


def test_tasks_and_train_read_no_config_key_with_a_hidden_default():
  """Every setting is in a base config, so none is read as config.get(key, default)."""
  import re
  pattern = re.compile(r'\b(config|cfg|opt|sched)(\.[a-z_]+)*\.get\(')
  offenders = [f'{p}:{i}' for p in sorted((REPO / 'cnn_jax').glob('t[ar]*/*.py'))
               if p.parent.name in ('tasks', 'train')
               for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
  assert offenders == []


def test_pad_ragged_gives_static_shapes_and_a_validity_mask():
  from cnn_jax.data.transforms import pad_ragged
  boxes, valid = pad_ragged([np.array([[1, 2, 3, 4]]), np.zeros((0, 4)), np.ones((2, 4))], 3, fill=-1)
  assert boxes.shape == (3, 3, 4) and boxes.dtype == np.float32
  np.testing.assert_array_equal(valid, [[1, 0, 0], [0, 0, 0], [1, 1, 0]])
  np.testing.assert_array_equal(boxes[0], [[1, 2, 3, 4], [-1] * 4, [-1] * 4])
  assert np.all(boxes[1] == -1) and np.all(boxes[2, :2] == 1)
  with pytest.raises(ValueError, match=r'Example 0 has 4 objects, more than the padded size 3'):
    pad_ragged([np.ones((4, 2))], 3)
  assert pad_ragged([np.zeros((0, 4))] * 2, 5)[0].shape == (2, 5, 4)  # no objects at all
  assert pad_ragged([[], []], 2, trailing=(4,))[0].shape == (2, 2, 4)
