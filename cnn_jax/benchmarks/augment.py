"""What on-device augmentation costs inside a train step.

For each workload (a model, batch and image shape) and each augmentation spec the case is one
complete SGD train step in one jitted function:

    images = make_batch_augment(spec)(key, images)        # absent for impl 'none'
    loss, grads = value_and_grad(cross-entropy of model.apply(..., train=True))
    params, opt_state = optax SGD (momentum 0.9) update

so the figure that matters is the time ratio of a spec's row to the 'none' row of the same
workload: overhead = time(spec) / time(none) - 1 = 1 / speedup - 1 (the table's "vs none"
column is time(none) / time(spec)). Cases of one workload are timed interleaved. A second
block per workload, 'augment only', times the jitted batch augmentation by itself: on a
loaded machine (where step-time differences of a few % drown in noise) its ratio to the
'none' step is the cleaner estimate of the overhead.

Config keys (besides those of `tasks.benchmark`): workloads: list of names in `WORKLOADS`
(default all); specs: {workload: {impl label (<= 10 chars): ops.augment spec}}; batch:
{workload: batch size} overrides; smoke: tiny batches.
"""
import jax
import jax.numpy as jnp
import optax

from cnn_jax import bench, models
from cnn_jax.ops.augment import make_batch_augment

BASELINE = 'none'
# name -> (registered model, kwargs, batch, image shape).
WORKLOADS = {
    'lenet5': ('lenet5', dict(num_classes=10), 256, (32, 32, 1)),
    'resnet18': ('resnet18', dict(num_classes=10, small_input=True), 16, (32, 32, 3)),
}
SPECS = {
    'lenet5': {'none': '', 'shift': 'pad_crop(pad=2)',
               'mnist': 'pad_crop(pad=2)|rotate(degrees=10)|elastic(alpha=34.0, sigma=4.0)'},
    'resnet18': {'none': '', 'cifar': 'flip_lr|pad_crop(pad=4)',
                 'heavy': 'flip_lr|pad_crop(pad=4)|color(brightness=0.2, contrast=0.2, '
                          'saturation=0.2)|pca_lighting(std=0.1)'},
}


def train_step_case(workload: str, impl: str, spec: str, batch: int) -> bench.Case:
  """One train step of `workload` with `spec` augmentation ('' = none) as a bench.Case."""
  model_name, kwargs, _, shape = WORKLOADS[workload]
  model = models.create(model_name, **kwargs)
  tx = optax.sgd(0.01, momentum=0.9)
  augment = make_batch_augment(spec)

  def args():
    k_init, k_x, k_y = jax.random.split(jax.random.key(0), 3)
    x = jax.random.uniform(k_x, (batch, *shape), jnp.float32)
    y = jax.random.randint(k_y, (batch,), 0, kwargs['num_classes'])
    variables = jax.jit(lambda x: model.init(k_init, x[:1], train=False))(x)
    params = variables['params']
    state = {k: v for k, v in variables.items() if k != 'params'}
    return params, state, tx.init(params), x, y, jax.random.key(1)

  def step(params, state, opt_state, images, labels, key):
    k_aug, k_drop = jax.random.split(key)
    if spec:
      images = augment(k_aug, images)

    def loss_fn(params):
      out = model.apply({'params': params, **state}, images, train=True,
                        rngs={'dropout': k_drop}, mutable=list(state) or False)
      logits, new_state = out if state else (out, state)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return loss, new_state

    (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_state, opt_state, loss

  info = dict(model=model_name, batch=batch, shape=list(shape), spec=spec)
  return bench.Case(f'{workload} b{batch} {"x".join(map(str, shape))} train step', impl, step,
                    args, info=info)


def augment_only_case(workload: str, impl: str, spec: str, batch: int) -> bench.Case:
  """The augmentation of one batch alone (what the step's extra work would cost unfused)."""
  _, _, _, shape = WORKLOADS[workload]
  augment = make_batch_augment(spec)
  args = lambda: (jax.random.uniform(jax.random.key(0), (batch, *shape)), jax.random.key(1))
  return bench.Case(f'{workload} b{batch} {"x".join(map(str, shape))} augment only', impl,
                    lambda images, key: augment(key, images), args,
                    info=dict(batch=batch, shape=list(shape), spec=spec))


def cases(config) -> list[bench.Case]:
  """One case per (workload, spec); impl = the spec's short label, 'none' = no augmentation."""
  names = list(config.get('workloads', None) or WORKLOADS)
  unknown = sorted(set(names) - set(WORKLOADS))
  if unknown:
    raise ValueError(f'Unknown workloads {unknown} in config.workloads; choose from '
                     f'{sorted(WORKLOADS)}.')
  specs = config.get('specs', None)
  specs = specs.to_dict() if hasattr(specs, 'to_dict') else (specs or SPECS)
  batches = config.get('batch', None)
  batches = batches.to_dict() if hasattr(batches, 'to_dict') else (batches or {})
  out = []
  for name in names:
    batch = 4 if config.get('smoke', False) else batches.get(name, WORKLOADS[name][2])
    table = specs.get(name, SPECS[name])
    if BASELINE not in table:
      table = {BASELINE: '', **table}
    out += [train_step_case(name, impl, spec, batch) for impl, spec in table.items()]
    out += [augment_only_case(name, impl, spec, batch) for impl, spec in table.items() if spec]
  return out
