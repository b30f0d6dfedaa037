"""Test-time evaluators of the classification task: multi-crop and ensembles (course §2.4.4).

Both average probabilities, p = (1 / V) sum_v softmax(logits_v), over V views of each test
image (`ops.multicrop`) or over the members of an ensemble, and report the accuracy of
argmax p and the loss -log p_label on the real test examples (`train.evaluate.masked_means`,
one jitted step per batch). Config keys (experiments/_classification.py, `eval`):

- multicrop: '' | 'flip' (image + mirror, at image_size) | 'ten_crop' (test images prepared
  at image_size + 2 * crop_border, then the four corners, the centre and their mirrors at
  image_size: AlexNet's 224 crops of a 256 image) | 'five_crop' (the same without mirrors);
- ensemble: other runs' workdirs; each member's model is rebuilt from its config.json (the
  architectures may differ) and its newest checkpoint, and its probabilities are averaged
  with the current state's. Members must predict the same classes from the same input size.
"""
import dataclasses
import json
import os
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from cnn_jax.data.transforms import prepare_images
from cnn_jax.ops import conv_autotune
from cnn_jax.ops import multicrop
from cnn_jax.tasks import _supervised
from cnn_jax.train import evaluate as evaluate_lib
from cnn_jax.train import pretrained as pretrained_lib
from cnn_jax.train import sharding
from cnn_jax.train.state import TrainState


def _scores(probs: jax.Array, labels: jax.Array, prefix: str) -> dict:
  """[B, K] averaged probabilities -> per-example accuracy and -log p_label."""
  p_label = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
  return {f'{prefix}_accuracy': (jnp.argmax(probs, -1) == labels).astype(jnp.float32),
          f'{prefix}_loss': -jnp.log(jnp.maximum(p_label, 1e-12))}


def multicrop_evaluator(run, mode: str, border: int) -> Callable:
  """evaluate(state) -> {'<mode>_accuracy', '<mode>_loss'} on the test split."""
  d = run.config.data
  if mode not in multicrop.MODES:
    raise ValueError(f'Unknown multi-crop mode {mode!r}; choose one of {list(multicrop.MODES)} '
                     "or '' (config.eval.multicrop).")
  if border < 0:
    raise ValueError(f'config.eval.crop_border={border} must be >= 0.')
  size = d.image_size + 2 * border if mode != 'flip' else d.image_size

  def prepare(examples):  # the task's batch, images at the larger size for the crops
    return {**run.task.prepare(examples),
            'image': prepare_images(examples['image'], size, d.resize, d.channels)}

  def per_example(params, model_state, batch):
    views = multicrop.views(batch['image'], mode, d.image_size)     # [V, B, S, S, C]
    # one view at a time (lax.map): memory stays that of a plain eval batch
    logits = jax.lax.map(lambda v: run.apply(params, model_state, {**batch, 'image': v}), views)
    return _scores(multicrop.average_probabilities(logits), batch['label'], mode)

  evaluate = evaluate_lib.masked_means(per_example, run.mesh, run.batches(prepare=prepare))
  return lambda state: _without_count(evaluate(state))


def _without_count(values: dict) -> dict:
  # the plain 'test' evaluator reports the count; merged evaluators' keys must differ
  return {k: v for k, v in values.items() if k != 'count'}


@dataclasses.dataclass(frozen=True)
class Member:
  """An ensemble member: its workdir, model, input normalisation and variables (host)."""
  workdir: str
  model: nn.Module
  normalize: Callable
  variables: Any


def load_member(workdir: str, config, num_classes: int) -> Member:
  """A trained run's model and newest variables; ValueError naming `workdir` when it does
  not predict `num_classes` classes from config.data's input size and channels."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'Ensemble member {workdir!r} has no config.json: '
                            'config.eval.ensemble must list workdirs of trained runs.')
  with open(path) as f:
    member = ml_collections.ConfigDict(json.load(f))
  if 'train' in member and 'compute_dtype' not in member.train:
    # Recorded before config.train.compute_dtype existed, when every run was float32.
    member.train.compute_dtype = 'float32'
  d = config.data
  for key in ('image_size', 'channels'):
    if member.data[key] != d[key]:
      raise ValueError(f'Ensemble member {workdir!r} was trained with data.{key}='
                       f'{member.data[key]} but this run uses {d[key]}: members must share '
                       'the input size (drop it from config.eval.ensemble).')
  model = _supervised.build_model(member, member.model.get('num_classes', num_classes))
  variables = pretrained_lib.workdir_variables(workdir)
  try:
    with conv_autotune.untimed():  # shapes only: no conv runs, so nothing to time
      out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables,
                           jax.ShapeDtypeStruct((1, d.image_size, d.image_size, d.channels),
                                                jnp.float32))
  except (TypeError, ValueError, KeyError, flax.errors.FlaxError) as e:
    raise ValueError(f'Ensemble member {workdir!r}: its checkpoint does not fit its '
                     f'config.json model ({e}).') from None
  if out.shape[-1] != num_classes:
    raise ValueError(f'Ensemble member {workdir!r} predicts {out.shape[-1]} classes but this '
                     f'run has {num_classes}: drop it from config.eval.ensemble.')
  return Member(workdir, model, _supervised.make_normalize(member.data.normalize), variables)


def ensemble_evaluator(run, workdirs) -> Callable:
  """evaluate(state) -> {'ensemble_accuracy', 'ensemble_loss', 'ensemble_size'}:
  the current state's probabilities averaged with those of the runs in `workdirs`."""
  members = [load_member(w, run.config, run.dataset.num_classes) for w in workdirs]
  constants = sharding.replicate([m.variables for m in members], run.mesh)

  def per_example(params, model_state, batch, member_variables):
    logits = [run.apply(params, model_state, batch)]
    for m, v in zip(members, member_variables):  # unrolled: the members may differ
      logits.append(m.model.apply(v, m.normalize(batch['image']), train=False))
    probs = multicrop.average_probabilities(jnp.stack(logits))
    return _scores(probs, batch['label'], 'ensemble')

  evaluate = evaluate_lib.masked_means(per_example, run.mesh, run.batches(), constants)
  return lambda state: {**_without_count(evaluate(state)), 'ensemble_size': float(len(members) + 1)}


def evaluators(run) -> dict[str, Callable]:
  """The evaluators config.eval asks for (none by default)."""
  e = run.config.eval
  out = {}
  if e.multicrop:
    out['multicrop'] = multicrop_evaluator(run, e.multicrop, e.crop_border)
  if e.ensemble:
    out['ensemble'] = ensemble_evaluator(run, tuple(e.ensemble))
  return out


def member_state(member: Member, mesh):
  """A TrainState-like pytree (params, model_state) of `member` on `mesh`, for evaluators."""
  variables = dict(member.variables)
  params = variables.pop('params')
  state = TrainState.create(params, variables, optax.identity(), jax.random.key(0))
  return sharding.replicate(state, mesh)
