"""LeNet-5 training throughput: the bare jitted step vs the whole loop (data, metrics, progress).

    python launch.py --config experiments/bench_train_lenet5.py

Cases (batch `config.batch`, 32x32x1, AdamW, the lenet5_mnist recipe):
  'bare step': the jitted train step on one resident batch (the upper bound);
  'full loop' (from `measure`): `train.loop.fit` on real MNIST through the grain pipeline
  with host->device transfer, NaN checks, metric logging, TensorBoard and the progress bar,
  timed from the loop's own img/s records (compile step and evals excluded).
The loop should reach >= 90% of the bare step's img/s.
"""
import os
import tempfile

import jax
import jax.numpy as jnp
import ml_collections

from cnn_jax import bench, models
from cnn_jax.benchmarks.models import CrossEntropyTask
from cnn_jax.data import pipeline, sources
from cnn_jax.tasks import _supervised
from cnn_jax.train import loop, optim, sharding
from cnn_jax.train.state import TrainState
from cnn_jax.train.step import make_train_step
from cnn_jax.train.writers import MetricWriter

BASELINE = 'bare step'
COMPARE = 'bare step'


def _setup(config):
  mesh = sharding.make_mesh(1)  # one CPU device: what a laptop user has
  model = models.create('lenet5')
  opt = ml_collections.ConfigDict(dict(name='adamw', learning_rate=1e-3, weight_decay=0.1))
  tx, schedule = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10**6)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
  state = sharding.replicate(TrainState.create(variables['params'], {}, tx, jax.random.key(1)), mesh)
  step = make_train_step(_supervised.make_loss_fn(CrossEntropyTask(), model), tx, mesh, schedule)
  return mesh, state, step


def _name(config) -> str:
  return f'lenet5 train b{config.batch}'


def cases(config) -> list[bench.Case]:
  """The bare step on one resident batch."""
  mesh, state, step = _setup(config)
  batch = sharding.global_batch({
      'image': jax.random.uniform(jax.random.key(2), (config.batch, 32, 32, 1)),
      'label': jnp.arange(config.batch, dtype=jnp.int32) % 10}, mesh)
  return [bench.Case(_name(config), 'bare step', step, (state, batch),
                     info={'items': config.batch})]


def measure(config) -> list[bench.Result]:
  """The full loop, timed by the loop itself (its train/img_per_sec records)."""
  mesh, state, step = _setup(config)
  dataset = sources.load('mnist')
  prepare = CrossEntropyTask(size=32, channels=1).prepare
  batches = lambda start: (sharding.global_batch(b, mesh) for b in pipeline.train_batches(
      dataset.train, config.batch, prepare, seed=0, start_step=start))
  with tempfile.TemporaryDirectory() as workdir:
    writer = MetricWriter(workdir)
    loop.fit(state, step, batches, workdir=workdir, steps=config.loop_steps,
             items_per_step=config.batch, unit='img', progress_metrics=('loss', 'accuracy'),
             log_every=config.loop_log_every,
             checkpoint_every=0, writer=writer, show_progress=True)
    writer.close()
    from cnn_jax.viz.curves import read_jsonl
    rates = [r['train/img_per_sec'] for r in read_jsonl(os.path.join(workdir, 'metrics.jsonl'))]
  samples = [config.batch / r for r in rates]
  return [bench.summarise(_name(config), 'full loop', samples, number=config.loop_log_every,
                          info={'items': config.batch})]
