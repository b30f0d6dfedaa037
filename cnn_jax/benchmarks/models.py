"""Zoo models' training steps side by side: every model at its small-image size, per conv impl.

    python launch.py --config experiments/bench_models.py

One case per (model workload, conv impl): the whole jitted train step as the supervised
runner builds it (`tasks._supervised.make_loss_fn`: forward in train mode, cross-entropy,
backward; batch-norm statistics updated) plus an SGD-momentum update with weight decay, on one resident random batch. The
step returns its new parameters, statistics, optimizer state and loss, so nothing is
dead-code eliminated; buffers are not donated, so the harness can call it repeatedly.

Workloads (`WORKLOADS`, selectable with config.models): each family at 32x32x3 with its
small-image variant (`small_input=True`, 10 classes) at batch config.batch, plus ResNet-50 at
224x224x3, batch 8, 1000 classes. FLOPs come from XLA's cost analysis of the step.

Throughput is img/s = batch / median step time (the table's items/s). `info` holds peak_mb: XLA's
buffer assignment of the compiled step (arguments + outputs + temporaries - aliased), i.e.
the device memory the step needs. It is read after the harness has compiled and timed the
case (a lazy `info`), from the in-process compilation cache, so it costs no second compile.

Config keys (besides those of `tasks.benchmark`): models (workload-name prefixes; empty =
all), impls (conv impls, `ops.conv.IMPLS`, or 'default': the model's own conv_impl compiled
with the runner's whole-step XLA options, `train.compile_tuning`), batch (small-image batch), smoke (tiny widths),
compute_dtypes (config.train.compute_dtype values, `tasks._precision`: 'bfloat16' adds the
cases '<impl>+bf16', the model in bfloat16 with float32 parameters, as the runner trains it).
"""
import collections.abc
import math

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn_jax import bench, models
from cnn_jax.data.transforms import prepare_images
from cnn_jax.losses.classification import cross_entropy
from cnn_jax.metrics.classification import correct
from cnn_jax.ops import conv_autotune
from cnn_jax.tasks import _precision, _supervised
from cnn_jax.train import compile_tuning, optim

BASELINE = 'xla'
DTYPE_LABELS = {'float32': 'f32', 'bfloat16': 'bf16'}  # the impl column's suffix
COMPARE = 'torch'

# (workload name prefix, registered model, kwargs, image size, batch (None: config.batch), classes)
WORKLOADS = (
    ('alexnet', 'alexnet', dict(small_input=True), 32, None, 10),
    ('vgg16_bn', 'vgg16_bn', dict(small_input=True, hidden=512), 32, None, 10),
    ('resnet18', 'resnet18', dict(small_input=True), 32, None, 10),
    ('resnet50', 'resnet50', dict(small_input=True), 32, None, 10),
    ('googlenet', 'googlenet', dict(small_input=True), 32, None, 10),
    ('mobilenet_v1', 'mobilenet_v1', dict(small_input=True), 32, None, 10),
    ('mobilenet_v2', 'mobilenet_v2', dict(small_input=True), 32, None, 10),
    ('resnet50 224px', 'resnet50', {}, 224, 8, 1000),
)
# :smoke: two tiny models, one per block kind that matters (residual, depthwise).
SMOKE_WIDTHS = {'resnet18': dict(width_multiplier=1 / 16), 'mobilenet_v2': dict(alpha=0.25)}


class CrossEntropyTask(_supervised.Task):
  """Cross-entropy (label smoothing 0.1) + accuracy on {'image', 'label'} batches: the
  classification objective, so the training benchmarks time what classification trains
  without depending on a peer task. `prepare` fits images to `size` x `size` x `channels`."""
  unit, progress = 'img', ('loss', 'accuracy')

  def __init__(self, size: int = 32, channels: int = 1, resize: str = 'pad'):
    super().__init__(config=None)
    self.size, self.channels, self.resize = size, channels, resize

  def prepare(self, examples):
    return {'image': prepare_images(examples['image'], self.size, self.resize, self.channels),
            'label': examples['label'].astype(np.int32)}

  def objective(self, logits, batch):
    return (cross_entropy(logits, batch['label'], 0.1).mean(),
            {'accuracy': correct(logits, batch['label']).mean()})


def workload_name(prefix: str, size: int, batch: int) -> str:
  """The table name of a workload, e.g. 'resnet18 32px b32 train' (PyTorch's JSON uses it)."""
  base = prefix.split(' ')[0]
  return f'{base} {size}px b{batch} train'


class LazyInfo(collections.abc.Mapping):
  """A case's `info` whose `memory()` fields are computed when the harness first reads it,
  which it does after compiling and timing the case."""

  def __init__(self, static: dict, memory: collections.abc.Callable[[], dict]):
    self._static, self._memory, self._cache = static, memory, None

  def _data(self) -> dict:
    if self._cache is None:
      self._cache = {**self._static, **self._memory()}
    return self._cache

  def __getitem__(self, key):
    return self._data()[key]

  def __iter__(self):
    return iter(self._data())

  def __len__(self):
    return len(self._data())


def compiled_memory_mb(compiled) -> dict:
  """XLA's memory figures of a compiled executable, in MB (1e6 bytes)."""
  stats = compiled.memory_analysis()
  if stats is None:
    return {}
  peak = (stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
          - stats.alias_size_in_bytes)
  return dict(peak_mb=round(peak / 1e6, 2), temp_mb=round(stats.temp_size_in_bytes / 1e6, 2),
              argument_mb=round(stats.argument_size_in_bytes / 1e6, 2))


def host_variables(model, x, seed: int = 0, **init_kwargs) -> dict:
  """Variables of `model` for input `x`, drawn with numpy (no initializer is compiled): conv
  kernels He-normal N(0, 2 / fan_in), dense kernels LeCun-normal N(0, 1 / fan_in), batch-norm
  scale and variance 1, biases and means 0. Shapes come from `jax.eval_shape(model.init)`.
  For timing, where values only need to be sane, this saves seconds of compile per model."""
  rng = np.random.default_rng(seed)
  with conv_autotune.untimed():  # shapes only: no conv runs, so 'auto' times nothing here
    abstract = jax.eval_shape(lambda x: model.init(jax.random.key(0, impl='rbg'), x,
                                                   **init_kwargs), x)

  def make(path, leaf):
    name = path[-1].key
    if name == 'kernel':
      gain = 2.0 if len(leaf.shape) == 4 else 1.0
      std = math.sqrt(gain / math.prod(leaf.shape[:-1]))
      return (rng.standard_normal(leaf.shape) * std).astype(np.float32)
    return (np.ones if name in ('scale', 'var') else np.zeros)(leaf.shape, np.float32)

  return dict(jax.tree_util.tree_map_with_path(make, abstract))


def make_train_step(model, learning_rate: float = 0.1):
  """`step(params, model_state, opt_state, batch, key)` -> the same, plus the loss."""
  opt = ml_collections.ConfigDict(dict(name='momentum', learning_rate=learning_rate, momentum=0.9,
                                       nesterov=True, weight_decay=5e-4, decay_norm_and_bias=False))
  tx, _ = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10**6)
  loss_fn = _supervised.make_loss_fn(CrossEntropyTask(), model)

  def step(params, model_state, opt_state, batch, key):
    (loss, (model_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, model_state, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
    return params, model_state, opt_state, loss

  return step, tx


def _case(prefix, name, kwargs, size, batch, classes, impl, dtype='float32') -> bench.Case:
  # 'default': the model's own conv_impl and the runner's whole-step compiler options
  # (train.compile_tuning: timed once per machine and program, then read from the cache).
  model = models.create(name, num_classes=classes,
                        **({} if impl == 'default' else dict(conv_impl=impl)), **kwargs)
  model = _precision.with_compute_dtype(model, _precision.parse_compute_dtype(dtype), name)
  step, tx = make_train_step(model)

  held = {}  # the harness's arguments, until `memory` has used them

  def args():
    key = jax.random.key(0, impl='rbg')  # compiles in a blink on CPU, unlike threefry
    x = jax.device_put(np.random.default_rng(1).random((batch, size, size, 3), np.float32))
    variables = jax.device_put(host_variables(model, x[:1]))
    params = variables.pop('params')
    batch_ = {'image': x, 'label': jnp.arange(batch, dtype=jnp.int32) % classes}
    held['args'] = (params, variables, tx.init(params), batch_, key)
    return held['args']

  def memory() -> dict:
    # Same function, same concrete arguments: the harness's compile is reused in-process.
    return compiled_memory_mb(jax.jit(step).lower(*(held.pop('args', None) or args())).compile())

  static = dict(model=name, kwargs={k: v for k, v in kwargs.items()}, image=[size, size, 3],
                batch=batch, classes=classes, conv_impl=impl, compute_dtype=dtype,
                items=batch)  # items/s = img/s
  label = impl if dtype == 'float32' else f'{impl}+{DTYPE_LABELS[dtype]}'

  def runner_options(built_args) -> dict:
    tuned = compile_tuning.tuned_jit(step)
    jax.block_until_ready(tuned(*built_args))
    static['step_options'] = tuned.choice['name']
    return tuned.choice.get('options', {})

  return bench.Case(workload_name(prefix, size, batch), label, step, args,
                    info=LazyInfo(static, memory),
                    compiler_options=runner_options if impl == 'default' else None)


def cases(config) -> list[bench.Case]:
  """One case per (workload in config.models, impl in config.impls, compute dtype in
  config.compute_dtypes)."""
  smoke, batch = config.smoke, int(config.batch)
  prefixes, impls = list(config.models), list(config.impls)
  dtypes = list(config.compute_dtypes)
  for dtype in dtypes:  # the runner's check and message (float16 refused, names the choices)
    _precision.parse_compute_dtype(dtype, 'config.compute_dtypes entry')
  out = []
  for prefix, name, kwargs, size, wl_batch, classes in WORKLOADS:
    if prefixes and not any(prefix.startswith(p) for p in prefixes):
      continue
    if smoke:
      if name not in SMOKE_WIDTHS or size != 32:
        continue
      kwargs = {**kwargs, **SMOKE_WIDTHS[name]}
    for dtype in dtypes:
      for impl in impls:
        out.append(_case(prefix, name, kwargs, size, wl_batch or batch, classes, impl, dtype))
  return out
