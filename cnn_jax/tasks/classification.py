"""Image classification: a registered model + cross-entropy + accuracy on a dataset.

Binds `models`, `losses.classification`, `metrics.classification`, `data` and `viz` to the
generic train library. Config schema: experiments/lenet5_mnist.py. At the end (process 0)
it draws curves.png, confusion.png and predictions.png into the workdir.
"""
import contextlib
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from cnn_jax import models
from cnn_jax.data import pipeline, sources
from cnn_jax.data.transforms import prepare_images
from cnn_jax.losses.classification import cross_entropy
from cnn_jax.metrics.classification import confusion_terms, correct, topk_correct
from cnn_jax.nn.freeze import running_average_batchnorm
from cnn_jax.train import loop, optim, sharding
from cnn_jax.train import pretrained as pretrained_lib
from cnn_jax.train.state import TrainState
from cnn_jax.train.step import make_eval_step, make_train_step
from cnn_jax.train.writers import MetricWriter
from cnn_jax.viz.classification import plot_confusion, plot_predictions
from cnn_jax.viz.curves import plot_curves


def build_model(config, num_classes: int):
  """The model named by config.model.name with the other config.model keys as kwargs."""
  kwargs = {k: v for k, v in config.model.to_dict().items() if k != 'name'}
  if kwargs.setdefault('num_classes', num_classes) != num_classes:
    raise ValueError(f'config.model.num_classes={kwargs["num_classes"]} but dataset '
                     f'{config.data.name!r} has {num_classes} classes.')
  return models.create(config.model.name, **kwargs)


def _split_variables(variables) -> tuple[dict, dict]:
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables


def init_variables(config, model, input_shape, key) -> dict:
  """Fresh variables, overwritten by config.init_from when set: 'imagenet' or a weight file
  (cnn_jax.weights.load) or another run's workdir (its newest checkpoint). Paths matching
  config.transfer.reinit (e.g. the head, for a new number of classes) stay fresh."""
  variables = jax.jit(functools.partial(model.init, train=False))(key, jnp.zeros((1, *input_shape)))
  source = config.get('init_from', '')
  if not source:
    return variables
  if os.path.isdir(source):
    pretrained = pretrained_lib.workdir_variables(source)
  else:
    from cnn_jax import weights  # the file's head is left out when num_classes differs
    pretrained = weights.load(config.model.name, source, num_classes=model.num_classes)
  reinit = tuple(config.get('transfer', {}).get('reinit', ()))
  merged, loaded, fresh = pretrained_lib.merge_pretrained(jax.device_get(variables), pretrained, reinit)
  logging.info('init_from %s: loaded %d arrays; fresh: %s', source, len(loaded), fresh)
  return merged


def frozen_batchnorm_predicate(config):
  """Module path -> True for batch-norm layers whose scale has learning-rate multiplier 0."""
  lr_mults = optim.lr_mult_rules(config.optimizer)
  if not any(m == 0 for _, m in lr_mults):
    return None
  return lambda path: optim.lr_multiplier(f'{path}/scale', lr_mults) == 0


NORMALIZATIONS = ('', 'imagenet')


def make_normalize(name: str):
  """images in [0, 1] -> model input: identity, or (x - mean) / std with ImageNet's
  statistics ('imagenet', what torchvision's pretrained weights expect)."""
  if name not in NORMALIZATIONS:
    raise ValueError(f'Unknown normalize {name!r}; choose one of {list(NORMALIZATIONS)} (config.data.normalize).')
  if not name:
    return lambda x: x
  from cnn_jax.weights.imagenet import MEAN, STD
  return lambda x: (x - jnp.asarray(MEAN, x.dtype)) / jnp.asarray(STD, x.dtype)


def make_loss_fn(model, label_smoothing: float, frozen_bn=None, augment=None,
                 normalize=lambda x: x):
  """loss_fn(params, model_state, batch, key) for the train library. `frozen_bn`: predicate
  on module paths whose batch norm runs on running averages; `augment`: fn(key, image) on
  [0, 1] images; `normalize`: applied after augmentation."""

  def loss_fn(params, model_state, batch, key):
    mutable = list(model_state)
    images = batch['image']
    if augment is not None:  # on device, inside the jitted step: one key per image
      aug_key, key = jax.random.split(key)
      images = jax.vmap(augment)(jax.random.split(aug_key, images.shape[0]), images)
    images = normalize(images)
    with (running_average_batchnorm(frozen_bn) if frozen_bn else contextlib.nullcontext()):
      out = model.apply({'params': params, **model_state}, images, train=True,
                        rngs={'dropout': key}, mutable=mutable or False)
    logits, new_state = out if mutable else (out, model_state)
    loss = cross_entropy(logits, batch['label'], label_smoothing).mean()
    return loss, (dict(new_state), {'accuracy': correct(logits, batch['label']).mean()})

  return loss_fn


def make_metric_fn(model, num_classes: int, normalize=lambda x: x):
  """metric_fn(params, model_state, batch) -> per-example loss, accuracy, top-5, confusion."""

  def metric_fn(params, model_state, batch):
    logits = model.apply({'params': params, **model_state}, normalize(batch['image']), train=False)
    values = {'loss': cross_entropy(logits, batch['label']),
              'accuracy': correct(logits, batch['label']),
              'confusion': confusion_terms(logits, batch['label'])}
    if num_classes > 5:
      values['top5_accuracy'] = topk_correct(logits, batch['label'], 5)
    return values

  return metric_fn


def run(config, workdir: str) -> loop.FitResult:
  """Trains and evaluates config's model on config's dataset; resumes in `workdir`."""
  chief = jax.process_index() == 0
  pid, nproc = jax.process_index(), jax.process_count()
  mesh = sharding.make_mesh(config.devices)
  data = config.data
  for name in ('batch_size', 'eval_batch_size'):
    if data[name] % mesh.size:
      raise ValueError(f'config.data.{name}={data[name]} must be divisible by the {mesh.size} '
                       'devices of the mesh; change it or config.devices.')
  dataset = sources.load(data.name, data.dir)
  if data.get('train_per_class', 0):
    dataset = sources.few_shot(dataset, data.train_per_class, seed=config.seed)
  model = build_model(config, dataset.num_classes)
  input_shape = (data.image_size, data.image_size, data.channels)
  models.check_input_shape(model, input_shape)

  init_key, state_key = jax.random.split(jax.random.key(config.seed))
  params, model_state = _split_variables(init_variables(config, model, input_shape, init_key))
  tx, schedule = optim.make_optimizer(config.optimizer, config.schedule, config.train.steps)
  state = sharding.replicate(TrainState.create(params, model_state, tx, state_key), mesh)
  logging.info('Model %s: %s parameters; input %s; %d classes.', config.model.name,
               f'{sum(x.size for x in jax.tree.leaves(params)):,}', input_shape, dataset.num_classes)

  fit_kwargs = dict(image_size=data.image_size, resize=data.resize, channels=data.channels,
                    process_index=pid, num_processes=nproc)
  train_batches = lambda start: (sharding.global_batch(b, mesh) for b in pipeline.train_batches(
      dataset.train, data.batch_size, seed=config.seed, start_step=start, **fit_kwargs))
  eval_batches = lambda: (sharding.global_batch(b, mesh) for b in pipeline.eval_batches(
      dataset.test, data.eval_batch_size, **fit_kwargs))

  augment_spec = data.get('augment', '')
  augment = None
  if augment_spec:
    from cnn_jax.ops.augment import make_augment
    augment = make_augment(augment_spec)
  normalize = make_normalize(data.get('normalize', ''))
  loss_fn = make_loss_fn(model, config.loss.label_smoothing, frozen_batchnorm_predicate(config),
                         augment, normalize)
  writer = MetricWriter(workdir) if chief else None
  try:
    result = loop.fit(
        state, make_train_step(loss_fn, tx, mesh, schedule),
        train_batches, workdir=workdir, steps=config.train.steps,
        examples_per_step=data.batch_size, log_every=config.train.log_every,
        eval_every=config.train.eval_every, checkpoint_every=config.train.checkpoint_every,
        keep_checkpoints=config.train.keep_checkpoints,
        eval_step=make_eval_step(make_metric_fn(model, dataset.num_classes, normalize), mesh),
        eval_batches=eval_batches, writer=writer, show_progress=chief)
  finally:
    if writer:
      writer.close()
  if result.eval is not None:
    means = loop.eval_means(result.eval)
    logging.info('Step %d: test accuracy %.4f, loss %.4f on %d images.', config.train.steps,
                 means['accuracy'], means['loss'], int(result.eval['count']))
    if chief:
      draw_pictures(workdir, model, result.state, dataset, result.eval['confusion'], fit_kwargs,
                    normalize)
  return result


def draw_pictures(workdir, model, state, dataset, confusion, fit_kwargs, normalize) -> None:
  """curves.png, confusion.png and predictions.png (32 test images spread over the split)."""
  plot_curves(os.path.join(workdir, 'metrics.jsonl'), os.path.join(workdir, 'curves.png'))
  plot_confusion(confusion, dataset.class_names, os.path.join(workdir, 'confusion.png'))
  indices = np.linspace(0, len(dataset.test) - 1, min(32, len(dataset.test))).astype(np.int64)
  batch = dataset.test.get(indices)
  images = prepare_images(batch['image'], fit_kwargs['image_size'], fit_kwargs['resize'],
                          fit_kwargs['channels'])
  variables = jax.device_get({'params': state.params, **state.model_state})
  logits = jax.jit(lambda v, x: model.apply(v, normalize(x), train=False))(variables, images)
  plot_predictions(images, batch['label'], np.argmax(logits, -1), dataset.class_names,
                   os.path.join(workdir, 'predictions.png'))
