"""The supervised runner: everything between a config and `train.loop.fit`, for every task.

A task is a `Task` subclass (one short module under `tasks/`) that says what is particular
to it; the runner owns the rest (docs/design.md, "Task contract"):

    class MyTask(_supervised.Task):
      unit, progress = 'img', ('loss', 'accuracy')    # throughput unit; progress-bar metrics
      def prepare(self, examples): ...       # host: raw examples -> arrays of static shape
      def objective(self, outputs, batch): ...  # jitted: (loss, {name: scalar})
      def evaluators(self, run): ...         # {name: evaluate(state) -> {metric: value}}
      def pictures(self, run, state, evaluation): ...  # {name: (png, h, w)}, PNGs in workdir
    def run(config, workdir): return _supervised.run(MyTask(config), workdir)

Optional hooks (defaults in `Task`): `load_data` (the dataset registry; None = no data),
`build_model` (the model registry), `pretrained_variables` (what config.init_from loads;
a detector nests its backbone's ImageNet weights), `sampler` (structured train batches, e.g. P x K),
`inputs` (the model input of a batch), `train_kwargs` (extra `model.apply` kwargs in
training), `augment_targets` + `augment_kwargs` (batch entries moved with the images),
`constants` (replicated inputs, not split over the batch), `init_inputs` (what `init` traces).

The runner: mesh and batch divisibility; dataset; model (in config.train.compute_dtype,
float32 or bfloat16, parameters float32: tasks/_precision.py); `init_from` ('imagenet', a weight
file, another run's workdir) with `transfer.reinit`; frozen batch norm (lr multiplier 0);
normalisation; optimizer and schedule; the replicated `TrainState`; the per-process input
pipeline with the task's `prepare`; augmentation on device (`ops.augment.make_batch_augment`);
the writer; `fit` with the evaluators as its callback; the final evaluation log; the
pictures (PNG files and TensorBoard).
"""
import contextlib
import functools
import os
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from cnn_jax import _json_cache, models
from cnn_jax.data import pipeline, sources
from cnn_jax.nn.freeze import running_average_batchnorm
from cnn_jax.ops import conv_autotune
from cnn_jax.tasks._precision import (COMPUTE_DTYPES, check_compute_dtype, compute_dtype,
                                      float32_outputs, with_compute_dtype)
from cnn_jax.train import evaluate as evaluate_lib
from cnn_jax.train import loop, optim, sharding
from cnn_jax.train import pretrained as pretrained_lib
from cnn_jax.train.state import TrainState
from cnn_jax.train.step import make_train_step
from cnn_jax.train.writers import MetricWriter

Evaluator = Callable[[TrainState], dict]
NORMALIZATIONS = ('', 'imagenet')


def build_model(config, num_classes: int | None) -> nn.Module:
  """The model named by config.model.name with the other config.model keys as kwargs;
  `num_classes` (the dataset's) fills in or must equal config.model.num_classes. It computes
  in config.train.compute_dtype (`with_compute_dtype`)."""
  kwargs = {k: v for k, v in config.model.to_dict().items() if k != 'name'}
  if num_classes is not None and kwargs.setdefault('num_classes', num_classes) != num_classes:
    raise ValueError(f'config.model.num_classes={kwargs["num_classes"]} but dataset '
                     f'{config.data.name!r} has {num_classes} classes.')
  if 'dtype' in kwargs:
    raise ValueError('config.model.dtype is not read; set config.train.compute_dtype '
                     f'(one of {list(COMPUTE_DTYPES)}) instead.')
  return with_compute_dtype(models.create(config.model.name, **kwargs), compute_dtype(config),
                            config.model.name)


def pretrained_variables(config, model, source: str) -> dict:
  """Variables of `source` ('imagenet' or a weight file) for the registry model
  config.model.name (`Task.pretrained_variables`' default)."""
  from cnn_jax import weights  # the file's head is left out (a new head or a backbone)
  num_classes = getattr(model, 'num_classes', None)
  return weights.load(config.model.name, source, num_classes=num_classes,
                      include_head=num_classes is not None)


def init_variables(config, model, inputs, key, load=None) -> dict:
  """Fresh variables for `inputs` (an input of batch 1, or its shape without the batch
  axis), overwritten by config.init_from when set: 'imagenet' or a weight file
  (`load(source)`, default `pretrained_variables`) or another run's workdir (its newest
  checkpoint). Paths matching config.transfer.reinit (e.g. the head, for a new number of
  classes) stay fresh."""
  if isinstance(inputs, tuple) and all(isinstance(d, int) for d in inputs):
    inputs = jnp.zeros((1, *inputs))
  with conv_autotune.untimed():  # a batch-1 init: not worth timing conv_impl='auto' for
    variables = jax.jit(functools.partial(model.init, train=False))(key, inputs)
  source = config.init_from
  if not source:
    return variables
  if os.path.isdir(source):
    pretrained = pretrained_lib.workdir_variables(source)
  elif load is not None:
    pretrained = load(source)
  else:
    pretrained = pretrained_variables(config, model, source)
  merged, loaded, fresh = pretrained_lib.merge_pretrained(
      jax.device_get(variables), pretrained, tuple(config.transfer.reinit))
  logging.info('init_from %s: loaded %d arrays; fresh: %s', source, len(loaded), fresh)
  return merged


def frozen_batchnorm_predicate(config) -> Callable[[str], bool] | None:
  """Module path -> True for batch-norm layers whose scale has learning-rate multiplier 0."""
  lr_mults = optim.lr_mult_rules(config.optimizer)
  if not any(m == 0 for _, m in lr_mults):
    return None
  return lambda path: optim.lr_multiplier(f'{path}/scale', lr_mults) == 0


def make_normalize(name: str) -> Callable[[jax.Array], jax.Array]:
  """images in [0, 1] -> model input: identity, or (x - mean) / std with ImageNet's
  statistics ('imagenet', what torchvision's pretrained weights expect)."""
  if name not in NORMALIZATIONS:
    raise ValueError(f'Unknown normalize {name!r}; choose one of {list(NORMALIZATIONS)} '
                     '(config.data.normalize).')
  if not name:
    return lambda x: x
  from cnn_jax.ops.normalize import IMAGENET_MEAN as MEAN, IMAGENET_STD as STD
  return lambda x: (x - jnp.asarray(MEAN, x.dtype)) / jnp.asarray(STD, x.dtype)


class Task:
  """What a task supplies to `run`. Subclass it; override `prepare` and `objective` (always),
  `evaluators` and `pictures` (usually) and any optional hook. `self.config` is the config."""
  unit: str = 'img'                 # what `items_per_step` counts: train/<unit>_per_sec
  progress: tuple[str, ...] = ('loss',)   # train metrics on the progress bar and curves.png
  # Batch entries moved with the images by geometric augmentation, as {batch key: key of
  # ops.augment's sample dict}, e.g. {'boxes': 'boxes', 'boxes_valid': 'boxes_valid'},
  # {'segmentation': 'mask'}, {'landmarks': 'points', 'landmarks_valid': 'points_valid'}.
  augment_targets: dict[str, str] = {}

  def __init__(self, config):
    self.config = config

  # --- data and model -------------------------------------------------------------------
  def load_data(self) -> sources.Dataset | None:
    """The dataset (None: a run without data). Default: config.data.name from the registry,
    cut to config.data.train_per_class examples per class when that is > 0."""
    data = self.config.data
    dataset = sources.load(data.name, data.dir)
    if data.train_per_class:
      dataset = sources.few_shot(dataset, data.train_per_class, seed=self.config.seed)
    return dataset

  def build_model(self, dataset) -> nn.Module:
    """The network. Default: the model registry, with the dataset's number of classes."""
    return build_model(self.config, getattr(dataset, 'num_classes', None))

  def sampler(self, dataset) -> Callable[[int], np.ndarray] | None:
    """`sampler(k)` -> the global example indices of train batch k (e.g. P identities x K
    images), or None for the shuffled epochs of `data.pipeline.train_batches`."""
    return None

  def host_augment(self) -> Callable[[dict, list], dict] | None:
    """Training-only host augmentation of the raw examples before `prepare`,
    `augment(examples, rngs)` with one numpy Generator per example (e.g. the Inception
    crop of images of any size: `data.transforms.host_augment`); None: none."""
    return None

  def prepare(self, examples: dict) -> dict:
    """Host, numpy: `split.get(indices)` -> arrays of static shape with a leading batch axis.
    Must not return 'mask' (the eval padding mask's name)."""
    raise NotImplementedError

  def inputs(self, batch: dict, *constants) -> Any:
    """The model's input from a (device) batch; images are already augmented + normalised."""
    return batch['image']

  def init_inputs(self, run: 'Run') -> Any:
    """An input of batch 1 that `model.init` traces: zeros shaped like one prepared example."""
    example = self.prepare(run.dataset.train.get(np.zeros(1, np.int64)))
    return jax.tree.map(jnp.zeros_like, self.inputs(example, *run.constants_args))

  def constants(self, run: 'Run') -> Any:
    """Replicated inputs of every step, not split over the batch (frozen variables, targets);
    None: none. Given to `inputs` and `objective` as a trailing argument."""
    return None

  def augment_kwargs(self) -> dict:
    """Keyword arguments of `ops.augment.make_batch_augment` (e.g. flip_pairs, mask_fill)."""
    return {}

  def pretrained_variables(self, model: nn.Module, source: str) -> dict:
    """config.init_from = 'imagenet' or a weight file -> variables laid out like the model's
    (a subtree is enough: the rest stays fresh). Default: the registry model's weights
    (`weights.load`); a detector nests its backbone's under the backbone's module name."""
    return pretrained_variables(self.config, model, source)

  def train_kwargs(self, model: nn.Module) -> dict:
    """Extra keyword arguments of `model.apply` in training (e.g. return_aux=True)."""
    return {}

  # --- the task proper ------------------------------------------------------------------
  def objective(self, outputs, batch: dict, *constants) -> tuple[jax.Array, dict]:
    """Jitted: model outputs (train mode) and the batch -> (scalar loss, {name: scalar})."""
    raise NotImplementedError

  def evaluators(self, run: 'Run') -> dict[str, Evaluator]:
    """{name: evaluate(state) -> {metric: value}}; build them with `run.masked_means` or
    `run.accumulate`. Their results are merged; scalars are logged as eval/<metric>."""
    return {}

  def pictures(self, run: 'Run', state: TrainState, evaluation: dict | None) -> dict:
    """Process 0, at the end of a run that trained to the last step (`evaluation`: the last
    evaluators' results, None without evaluators): draw into `run.path(name + '.png')` and return
    {name: (png bytes, height, width)} (what `viz.figures.save_png` returns); the runner
    sends them to TensorBoard too."""
    return {}


class Run:
  """What the runner built, for a task's evaluators and pictures: config, workdir, mesh,
  dataset, model, normalize, constants, chief (process 0), and helpers below."""

  def __init__(self, task: Task, config, workdir: str, mesh, dataset, model, normalize):
    self.task, self.config, self.workdir, self.mesh = task, config, workdir, mesh
    self.dataset, self.model, self.normalize = dataset, model, normalize
    self.chief = jax.process_index() == 0
    self.constants = None

  @property
  def constants_args(self) -> tuple:
    return () if self.constants is None else (self.constants,)

  def path(self, name: str) -> str:
    """A file in the workdir."""
    return os.path.join(self.workdir, name)

  def batches(self, split=None, batch_size: int | None = None,
              prepare: Callable | None = None) -> Callable[[], Any]:
    """`() -> iterator` of padded global eval batches of `split` (default the test split),
    prepared by `prepare` (default the task's), with 'mask' marking the real examples."""
    split = self.dataset.test if split is None else split
    batch_size = batch_size or self.config.data.eval_batch_size
    prepare = prepare or self.task.prepare
    pid, nproc = jax.process_index(), jax.process_count()
    return lambda: (sharding.global_batch(b, self.mesh) for b in pipeline.eval_batches(
        split, batch_size, prepare, process_index=pid, num_processes=nproc))

  def apply(self, params, model_state, batch, *constants):
    """Eval-mode model outputs for a device batch (normalised images; jit-traceable)."""
    batch = {**batch, 'image': self.normalize(batch['image'])} if 'image' in batch else batch
    return float32_outputs(self.model.apply({'params': params, **model_state},
                                            self.task.inputs(batch, *constants), train=False))

  def masked_means(self, metric_fn: Callable, batches: Callable | None = None) -> Evaluator:
    """Per-example metrics `metric_fn(outputs, batch) -> {name: [B, ...]}` -> means over
    the real examples (arrays stay sums; plus 'count'): `train.evaluate.masked_means`."""
    per_example = lambda p, s, b, *c: metric_fn(self.apply(p, s, b, *c), b)
    return evaluate_lib.masked_means(per_example, self.mesh, batches or self.batches(),
                                     self.constants)

  def accumulate(self, predict_fn: Callable, make_accumulator: Callable,
                 batch_keys=None, batches: Callable | None = None) -> Evaluator:
    """Host-side evaluation: `predict_fn(outputs, batch) -> arrays` on device, then
    `accumulator.update(outputs, targets)` per batch and `result()` (`train.evaluate`)."""
    predict = lambda p, s, b, *c: predict_fn(self.apply(p, s, b, *c), b)
    return evaluate_lib.accumulate(predict, self.mesh, batches or self.batches(),
                                   make_accumulator, self.constants, batch_keys)

  def predict(self, state: TrainState, batch: dict) -> Any:
    """Eval-mode outputs (numpy) for a host batch on this process (for pictures)."""
    variables = jax.device_get((state.params, state.model_state))
    fn = jax.jit(lambda v, b, *c: self.apply(*v, b, *c))
    return jax.device_get(fn(variables, batch, *jax.device_get(self.constants_args)))


def make_loss_fn(task: Task, model: nn.Module, *, frozen_bn=None, augment=None,
                 normalize=lambda x: x) -> Callable:
  """loss_fn(params, model_state, batch, key[, constants]) for `train.step`: augment
  (`augment(key, images)`, or its sample dict with `task.augment_targets`) -> normalize ->
  `model.apply` in train mode (mutable collections, dropout key, frozen batch norm) ->
  `task.objective`."""
  train_kwargs = task.train_kwargs(model)

  def loss_fn(params, model_state, batch, key, *constants):
    mutable = list(model_state)
    if batch is not None and 'image' in batch:
      images = batch['image']
      if augment is not None:  # on device, inside the jitted step
        aug_key, key = jax.random.split(key)
        if task.augment_targets:  # ops.augment's sample dict, moved together
          sample = {s: batch[b] for b, s in task.augment_targets.items() if b in batch}
          out = augment(aug_key, {**sample, 'image': images})
          images = out['image']
          batch = {**batch, **{b: out[s] for b, s in task.augment_targets.items() if s in out}}
        else:
          images = augment(aug_key, images)
      batch = {**batch, 'image': normalize(images)}
    with (running_average_batchnorm(frozen_bn) if frozen_bn else contextlib.nullcontext()):
      out = model.apply({'params': params, **model_state}, task.inputs(batch, *constants),
                        train=True, rngs={'dropout': key}, mutable=mutable or False,
                        **train_kwargs)
    outputs, new_state = out if mutable else (out, model_state)
    # The model computes in its dtype (config.train.compute_dtype: its first conv casts the
    # images); the objective runs in float32. Gradients are float32: they are taken w.r.t.
    # the float32 parameters, through the casts.
    outputs = float32_outputs(outputs)
    loss, metrics = task.objective(outputs, batch, *constants)
    return loss, (dict(new_state), metrics)

  return loss_fn


def _check_batch_sizes(config, mesh) -> None:
  for name in ('batch_size', 'eval_batch_size'):
    if config.data[name] % mesh.size:
      raise ValueError(f'config.data.{name}={config.data[name]} must be divisible by the '
                       f'{mesh.size} devices of the mesh; change it or config.devices.')


def run(task: Task, workdir: str) -> loop.FitResult:
  """Trains and evaluates `task` (its config: `task.config`); resumes in `workdir`."""
  config = task.config
  pid, nproc = jax.process_index(), jax.process_count()
  mesh = sharding.make_mesh(config.devices)
  dataset = task.load_data()
  if dataset is not None:
    _check_batch_sizes(config, mesh)
  model = task.build_model(dataset)
  check_compute_dtype(task, model)
  normalize = make_normalize(config.data.normalize) if dataset is not None else (lambda x: x)
  r = Run(task, config, workdir, mesh, dataset, model, normalize)
  constants = task.constants(r)
  if constants is not None:
    r.constants = sharding.replicate(constants, mesh)

  init_key, state_key = jax.random.split(jax.random.key(config.seed))
  example = task.init_inputs(r)
  if isinstance(example, jax.Array) and example.ndim == 4:
    models.check_input_shape(model, example.shape[1:])
  variables = dict(init_variables(config, model, example, init_key,
                                  functools.partial(task.pretrained_variables, model)))
  params = variables.pop('params')
  tx, schedule = optim.make_optimizer(config.optimizer, config.schedule, config.train.steps)
  state = sharding.replicate(TrainState.create(params, variables, tx, state_key), mesh)
  logging.info('Model %s: %s parameters; init input %s.', type(model).__name__,
               f'{sum(x.size for x in jax.tree.leaves(params)):,}',
               jax.tree.map(lambda x: tuple(x.shape), example))

  train_batches, items = None, 1
  if dataset is not None:
    sampler = task.sampler(dataset)
    host_aug = task.host_augment()
    train_batches = lambda start: (sharding.global_batch(b, mesh) for b in pipeline.train_batches(
        dataset.train, config.data.batch_size, task.prepare, seed=config.seed, start_step=start,
        process_index=pid, num_processes=nproc, sampler=sampler, host_augment=host_aug))
    items = config.data.batch_size
  augment = None
  if dataset is not None and config.data.augment:
    from cnn_jax.ops.augment import make_batch_augment
    augment = make_batch_augment(config.data.augment, **task.augment_kwargs())
  loss_fn = make_loss_fn(task, model, frozen_bn=frozen_batchnorm_predicate(config),
                         augment=augment, normalize=normalize)
  step = train_step = make_train_step(loss_fn, tx, mesh, schedule,
                                      constants=constants is not None)
  if constants is not None:  # fit calls step(state, batch); the constants ride along
    step = functools.partial(_with_constants, step, r.constants)
  evaluators = task.evaluators(r)
  evaluate = _merged(evaluators) if evaluators else None

  writer = MetricWriter(workdir) if r.chief else None
  try:
    t = config.train
    result = loop.fit(
        state, step, train_batches, workdir=workdir, steps=t.steps, items_per_step=items,
        unit=task.unit, progress_metrics=task.progress, log_every=t.log_every,
        eval_every=t.eval_every, checkpoint_every=t.checkpoint_every,
        keep_checkpoints=t.keep_checkpoints, evaluate=evaluate, writer=writer,
        show_progress=r.chief, preemption_check_every=t.preemption_check_every)
    if r.chief and conv_autotune.used_plans():  # what conv_impl='auto' chose, for the record
      conv_autotune.write_used_plans(r.path('conv_plan.json'))
    if r.chief and train_step.choice:  # the XLA options the step was compiled with
      _json_cache.write_json(r.path('step_options.json'), train_step.choice)
    if result.eval is not None:
      logging.info('Step %d: %s.', t.steps, ', '.join(
          f'test {k} {float(v):.4f}' for k, v in result.eval.items() if np.ndim(v) == 0))
    trained = not result.interrupted and (result.resumed_from or 0) < t.steps
    if r.chief and trained:  # a finished run that is run again draws nothing new
      _pictures(r, result, writer, t.steps)
  finally:
    if writer:
      writer.close()
  return result


def _with_constants(step, constants, state, batch):
  return step(state, batch, constants)


def _merged(evaluators: dict[str, Evaluator]) -> Evaluator:
  """One evaluate(state) for `fit`: the evaluators' results in one dict (names must differ)."""

  def evaluate(state):
    out, origin = {}, {}
    for name, fn in evaluators.items():
      for k, v in fn(state).items():
        if k in out:
          raise ValueError(f'Evaluators {origin[k]!r} and {name!r} both return {k!r}; rename one.')
        out[k], origin[k] = v, name
    return out

  return evaluate


def _pictures(r: Run, result: loop.FitResult, writer: MetricWriter, step: int) -> None:
  """curves.png from metrics.jsonl, then the task's pictures; all of them to TensorBoard."""
  from cnn_jax.viz.curves import plot_curves
  drawn = {'curves': plot_curves(r.path('metrics.jsonl'), r.path('curves.png'),
                                 names=tuple(r.task.progress))}
  drawn.update(r.task.pictures(r, result.state, result.eval))
  for name, (png, height, width) in drawn.items():
    writer.write_png(step, f'pictures/{name}', png, height, width)
