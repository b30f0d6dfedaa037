r"""cnn_jax train steps and PyTorch eager, interleaved round by round in one run.

    python benchmarks/side_by_side.py --torch-python <venv>/bin/python \
        --workloads lenet5 resnet18 mobilenet_v2 --impls default xla taps fast

<venv> is a throwaway venv with torch==2.14.1 torchvision==0.29.1 (PyTorch is never a cnn_jax
dependency). The PyTorch steps run in a child process (`torch_step_server.py`, 2 threads)
that idles while cnn_jax runs, and vice versa; `--torch-channels-last` adds PyTorch with the
model and batch channels-last ('torch_cl': 1.3-2x faster than its default NCHW on this CPU);
`--torch-steady-malloc` adds PyTorch NCHW run with cnn_jax's allocation policy
('torch_steady': `cnn_jax._malloc`'s settings as $GLIBC_TUNABLES in its process).
Every round times `--steps` consecutive steps
of each variant (PyTorch first, then each conv impl, the order rotated every round), so all
variants see the same background load on a shared machine: compare the ratios, not the
absolute times. Workloads are cnn_jax.benchmarks.models' (32x32x3 small-input variants,
batch 32, SGD momentum) and LeNet-5 32x32x1 batch 256 with AdamW (train_lenet5's step).
'default' is the model's own default conv_impl. Prints, per workload and variant: compile
seconds, median step ms, img/s, and PyTorch median / this median (> 1: faster than PyTorch).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn_jax import models
from cnn_jax.benchmarks import models as zoo_bench
from cnn_jax.ops import conv_autotune, plan_cache
from cnn_jax.tasks import _supervised
from cnn_jax.train import compile_tuning, optim

HERE = os.path.dirname(os.path.abspath(__file__))
# cnn_jax._malloc's mallopt settings as glibc tunables, for a child process (PyTorch)
STEADY_TUNABLES = ('glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:'
                   'glibc.malloc.trim_threshold=18446744073709551615')
ZOO = {prefix: (name, kwargs, size, batch, classes)
       for prefix, name, kwargs, size, batch, classes in zoo_bench.WORKLOADS}


def _lenet_step(impl: str, batch: int):
  """LeNet-5's AdamW train step (as cnn_jax.benchmarks.train_lenet5) and its arguments."""
  model = models.create('lenet5', **({} if impl == 'default' else dict(conv_impl=impl)))
  opt = ml_collections.ConfigDict(dict(name='adamw', learning_rate=1e-3, weight_decay=0.1))
  tx, _ = optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10**6)
  loss_fn = _supervised.make_loss_fn(zoo_bench.CrossEntropyTask(), model)

  def step(params, model_state, opt_state, batch, key):
    (loss, (model_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, model_state, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p + u, params, updates), model_state, opt_state, loss

  x = jnp.asarray(np.random.default_rng(1).random((batch, 32, 32, 1), np.float32))
  params = zoo_bench.host_variables(model, x[:1])['params']
  data = {'image': x, 'label': jnp.arange(batch, dtype=jnp.int32) % 10}
  return step, (params, {}, tx.init(params), data, jax.random.key(0, impl='rbg'))


def _zoo_step(prefix: str, impl: str, batch: int):
  name, kwargs, size, wl_batch, classes = ZOO[prefix]
  if impl != 'default':
    kwargs = {**kwargs, 'conv_impl': impl}
  model = models.create(name, num_classes=classes, **kwargs)
  step, tx = zoo_bench.make_train_step(model)
  batch = wl_batch or batch
  x = jnp.asarray(np.random.default_rng(1).random((batch, size, size, 3), np.float32))
  variables = zoo_bench.host_variables(model, x[:1])
  params = variables.pop('params')
  data = {'image': x, 'label': jnp.arange(batch, dtype=jnp.int32) % classes}
  return step, (params, variables, tx.init(params), data, jax.random.key(0, impl='rbg'))


def _before_step(prefix: str, batch: int):
  """The same step from cnn_jax as of another commit ('before'), imported as the package
  `cnn_jax_before` (a copy of that commit's cnn_jax/ with its imports renamed; see --before)."""
  import cnn_jax_before.benchmarks.models as old_bench
  from cnn_jax_before import models as old_models
  from cnn_jax_before.tasks.classification import make_loss_fn
  from cnn_jax_before.train import optim as old_optim
  if prefix != 'lenet5':
    name, kwargs, size, wl_batch, classes = ZOO[prefix]
    case = old_bench._case(prefix, name, kwargs, size, wl_batch or batch, classes, 'xla')
    return case.fn, case.args()
  model = old_models.create('lenet5')
  opt = ml_collections.ConfigDict(dict(name='adamw', learning_rate=1e-3, weight_decay=0.1))
  tx, _ = old_optim.make_optimizer(opt, ml_collections.ConfigDict(dict(name='constant')), 10**6)
  loss_fn = make_loss_fn(model, label_smoothing=0.1)

  def step(params, model_state, opt_state, batch, key):
    (loss, (model_state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, model_state, batch, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return jax.tree.map(lambda p, u: p + u, params, updates), model_state, opt_state, loss

  x = jnp.asarray(np.random.default_rng(1).random((batch, 32, 32, 1), np.float32))
  params = zoo_bench.host_variables(model, x[:1])['params']
  data = {'image': x, 'label': jnp.arange(batch, dtype=jnp.int32) % 10}
  return step, (params, {}, tx.init(params), data, jax.random.key(0, impl='rbg'))


class Torch:
  """The PyTorch step server (a child process in the torch venv)."""

  def __init__(self, python: str, env: dict | None = None):
    # The server imports cnn_jax helpers: CNN_JAX_MALLOC=system keeps PyTorch on its own
    # allocator defaults even in a venv that also has JAX (cnn_jax._malloc).
    self.proc = subprocess.Popen([python, os.path.join(HERE, 'torch_step_server.py')],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, 'CNN_JAX_MALLOC': 'system', **(env or {})})

  def times(self, workload: str, steps: int, memory_format: str = 'contiguous') -> list[float]:
    self.proc.stdin.write(json.dumps({'workload': workload, 'steps': steps,
                                      'memory_format': memory_format}) + '\n')
    self.proc.stdin.flush()
    reply = json.loads(self.proc.stdout.readline())
    self.version = reply['torch']
    return reply['times']


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--torch-python', default='')
  parser.add_argument('--workloads', nargs='*', default=['lenet5', 'resnet18', 'mobilenet_v2'])
  parser.add_argument('--impls', nargs='*', default=['default', 'xla', 'taps', 'fast'])
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--lenet-batch', type=int, default=256)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--out', default='')
  parser.add_argument('--torch-channels-last', action='store_true',
                      help="also time PyTorch with model and batch channels-last ('torch_cl'), "
                      'its faster CPU layout; vs_torch stays against the default NCHW layout')
  parser.add_argument('--torch-steady-malloc', action='store_true',
                      help="also time PyTorch (NCHW) with cnn_jax's allocation policy "
                      "('torch_steady': GLIBC_TUNABLES with the settings of cnn_jax._malloc)")
  parser.add_argument('--before', default='', help="a folder holding `cnn_jax_before`, e.g. "
                      "from: git archive 6d2da49 cnn_jax | tar -x -C DIR; mv DIR/cnn_jax "
                      "DIR/cnn_jax_before; rename 'cnn_jax' to 'cnn_jax_before' in its imports")
  args = parser.parse_args()
  if args.before:
    sys.path.insert(0, args.before)
    args.impls = ['before', *args.impls]
  torch = Torch(args.torch_python) if args.torch_python else None
  torch_steady = (Torch(args.torch_python, dict(GLIBC_TUNABLES=STEADY_TUNABLES))
                  if args.torch_python and args.torch_steady_malloc else None)
  started = time.perf_counter()
  machine = plan_cache.machine()
  print('load average', os.getloadavg(), 'jax', jax.__version__, 'cpu', machine['cpu'],
        machine['isa'], flush=True)
  report = []
  for prefix in args.workloads:
    lenet = prefix == 'lenet5'
    batch = args.lenet_batch if lenet else (ZOO[prefix][3] or args.batch)
    workload = (f'lenet5 32px b{batch} train' if lenet else
                zoo_bench.workload_name(prefix, ZOO[prefix][2], batch))
    runners, compile_s, tuning_s, conv_tuning_s, options = {}, {}, {}, {}, {}
    for impl in args.impls:
      if impl == 'before':
        step, step_args = _before_step(prefix, batch)
      else:
        step, step_args = _lenet_step(impl, batch) if lenet else _zoo_step(prefix, impl, batch)
      # The runner's compile: XLA's options chosen by timing the whole step (first run on a
      # machine; then read from the cache), as train.step does; 'compile' is the chosen
      # variant's, what a later run pays.
      t, tuned = time.perf_counter(), conv_autotune.tuning_seconds()
      compiled = compile_tuning.tuned_jit(step)
      jax.block_until_ready(compiled(*step_args))  # chooses, compiles, warms up
      options[impl], compile_s[impl] = compiled.choice['name'], compiled.choice.get('compile_s')
      if compile_s[impl] is None:  # CNN_JAX_STEP_TUNING=off: plain jax.jit, compiled lazily
        t_c = time.perf_counter()
        compiled.lower(*step_args).compile()
        compile_s[impl] = time.perf_counter() - t_c
      conv_tuning_s[impl] = conv_autotune.tuning_seconds() - tuned
      tuning_s[impl] = time.perf_counter() - t - compile_s[impl] - conv_tuning_s[impl]
      runners[impl] = (compiled, step_args)
    torch_variants = (['torch'] if torch else []) + (
        ['torch_cl'] if torch and args.torch_channels_last else []) + (
        ['torch_steady'] if torch_steady else [])
    variants = torch_variants + list(args.impls)
    samples = {v: [] for v in variants}
    for r in range(args.rounds):
      order = variants[r % len(variants):] + variants[:r % len(variants)]
      for v in order:
        if v.startswith('torch'):
          server = torch_steady if v == 'torch_steady' else torch
          samples[v] += server.times(workload, args.steps,
                                     'channels_last' if v == 'torch_cl' else 'contiguous')
          continue
        compiled, step_args = runners[v]
        for _ in range(args.steps):
          t = time.perf_counter()
          jax.block_until_ready(compiled(*step_args))
          samples[v].append(time.perf_counter() - t)
    med = {v: statistics.median(s) for v, s in samples.items()}
    for v in variants:
      row = dict(workload=workload, variant=v, median_ms=med[v] * 1e3,
                 img_per_s=batch / med[v], compile_s=compile_s.get(v),
                 autotune_s=conv_tuning_s.get(v), step_tuning_s=tuning_s.get(v),
                 step_options=options.get(v),
                 vs_torch=(med['torch'] / med[v]) if torch else None,
                 vs_torch_channels_last=(med['torch_cl'] / med[v]) if 'torch_cl' in med else None,
                 samples_ms=[round(t * 1e3, 2) for t in samples[v]])
      report.append(row)
      print(f"{workload:28s} {v:8s} compile {row['compile_s'] or 0:6.1f} s "
            f"(autotune {row['autotune_s'] or 0:5.1f} s, options {row['step_options']})  median "
            f"{row['median_ms']:8.1f} ms  {row['img_per_s']:8.0f} img/s  vs torch "
            f"{row['vs_torch'] or 0:5.2f}x"
            + (f"  vs torch channels-last {row['vs_torch_channels_last']:5.2f}x"
               if row['vs_torch_channels_last'] else ''), flush=True)
  print('load average', os.getloadavg(), flush=True)
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(dict(load_average=os.getloadavg(), machine=machine, jax=jax.__version__,
                     torch=torch.version if torch else None, args=vars(args),
                     wall_s=time.perf_counter() - started,
                     conv_plans=conv_autotune.used_plans(), results=report), f, indent=1)


if __name__ == '__main__':
  sys.exit(main())
