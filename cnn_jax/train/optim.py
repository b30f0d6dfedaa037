"""Optimizers and learning-rate schedules from config, via optax.

    tx, schedule = make_optimizer(config.optimizer, config.schedule, total_steps)

optimizer: name (sgd | momentum | adam | adamw), learning_rate, momentum, nesterov,
  weight_decay, decay_norm_and_bias (False: no decay on 1-D params, i.e. biases and
  norm scales/offsets), grad_clip_norm (0 = off), b1, b2, eps (Adam's).
  lr_mults: ((regex, multiplier), ...) over '/'-joined parameter paths, first
  full match wins, unmatched params get 1.0: discriminative learning rates (e.g. backbone
  0.1, head 1.0). A multiplier of 0 freezes: zero updates and no weight decay (set_to_zero).
schedule: name (constant | cosine | warmup_cosine | warmup_constant | step), warmup_steps,
  end_fraction (cosine's final lr / peak), and for 'step' boundaries + decay_rate.

Every key and its default is in OPTIMIZER_DEFAULTS / SCHEDULE_DEFAULTS (the family base
configs list them all); a section may leave defaults out, but an unknown key is an error.
"""
from typing import Any, Callable

import re

import jax
import optax

OPTIMIZERS = ('sgd', 'momentum', 'adam', 'adamw')
SCHEDULES = ('constant', 'cosine', 'warmup_cosine', 'warmup_constant', 'step')
OPTIMIZER_DEFAULTS = dict(momentum=0.9, nesterov=False, weight_decay=0.0,
                          decay_norm_and_bias=False, grad_clip_norm=0.0, b1=0.9, b2=0.999,
                          eps=1e-8, lr_mults=())
SCHEDULE_DEFAULTS = dict(warmup_steps=0, end_fraction=0.0, boundaries=(), decay_rate=0.1)


class _Settings(dict):
  """A config section with its defaults filled in; keys read as attributes."""
  __getattr__ = dict.__getitem__


def _settings(section, required: tuple[str, ...], defaults: dict, where: str) -> _Settings:
  """`section` (ConfigDict or dict) over `defaults`; a missing required or unknown key is
  an error naming the valid ones."""
  given = dict(section.items())
  missing = [k for k in required if k not in given]
  unknown = sorted(set(given) - set(required) - set(defaults))
  if missing or unknown:
    raise ValueError(f'{where}: ' + (f'missing {missing}; ' if missing else '') +
                     (f'unknown {unknown}; ' if unknown else '') +
                     f'valid keys: {sorted([*required, *defaults])}.')
  return _Settings({**defaults, **given})


def make_schedule(cfg, base_lr: float, total_steps: int) -> optax.Schedule:
  """Learning rate as a function of the step; warmup is linear from 0 to `base_lr`."""
  cfg = _settings(cfg, ('name',), SCHEDULE_DEFAULTS, 'config.schedule')
  name = cfg.name
  warmup = int(cfg.warmup_steps)
  if name not in SCHEDULES:
    raise ValueError(f'Unknown schedule {name!r}; choose one of {list(SCHEDULES)} (config.schedule.name).')
  if name == 'constant' and not warmup:
    return optax.constant_schedule(base_lr)
  if name in ('constant', 'warmup_constant'):
    return optax.join_schedules([optax.linear_schedule(0.0, base_lr, warmup),
                                 optax.constant_schedule(base_lr)], [warmup])
  if name in ('cosine', 'warmup_cosine'):
    return optax.warmup_cosine_decay_schedule(
        0.0, base_lr, warmup, max(total_steps, warmup + 1),
        end_value=base_lr * float(cfg.end_fraction))
  boundaries = list(cfg.boundaries)
  rate = float(cfg.decay_rate)
  return optax.piecewise_constant_schedule(base_lr, {int(b): rate for b in boundaries})


def decay_mask(params) -> Any:
  """True for params that get weight decay: kernels (ndim > 1), not biases or norm params."""
  return jax.tree.map(lambda p: p.ndim > 1, params)


def param_paths(params) -> Any:
  """The tree of '/'-joined key paths of `params` (e.g. 'features/0/conv/kernel')."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: '/'.join(str(getattr(k, 'key', getattr(k, 'idx', k))) for k in path), params)


def lr_mult_rules(opt) -> tuple[tuple[str, float], ...]:
  """config.optimizer.lr_mults as ((regex, multiplier), ...); () when empty."""
  return tuple((str(p), float(m)) for p, m in opt.lr_mults or ())


def lr_multiplier(path: str, lr_mults) -> float:
  """The multiplier of the first (regex, mult) in `lr_mults` that fully matches `path`; 1.0."""
  for pattern, mult in lr_mults:
    if re.fullmatch(pattern, path):
      return float(mult)
  return 1.0


def _single(opt, schedule, mask) -> optax.GradientTransformation:
  wd = float(opt.weight_decay)
  parts = []
  if float(opt.grad_clip_norm) > 0:
    parts.append(optax.clip_by_global_norm(float(opt.grad_clip_norm)))
  if wd and opt.name != 'adamw':
    parts.append(optax.add_decayed_weights(wd, mask))
  b1, b2, eps = float(opt.b1), float(opt.b2), float(opt.eps)
  if opt.name == 'sgd':
    parts.append(optax.sgd(schedule))
  elif opt.name == 'momentum':
    parts.append(optax.sgd(schedule, momentum=float(opt.momentum), nesterov=bool(opt.nesterov)))
  elif opt.name == 'adam':
    parts.append(optax.adam(schedule, b1=b1, b2=b2, eps=eps))
  else:
    parts.append(optax.adamw(schedule, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=mask))
  return optax.chain(*parts)


def make_optimizer(opt, sched, total_steps: int) -> tuple[optax.GradientTransformation, optax.Schedule]:
  """Builds (tx, schedule). SGD/Adam weight decay is L2 added to the gradient (as in
  torch.optim.SGD); AdamW's is decoupled. Both skip 1-D params unless decay_norm_and_bias.
  With lr_mults, each multiplier gets its own copy of the optimizer on a scaled schedule
  (optax.multi_transform); gradient clipping then applies per group. The returned schedule
  is the unscaled one."""
  opt = _settings(opt, ('name', 'learning_rate'), OPTIMIZER_DEFAULTS, 'config.optimizer')
  if opt.name not in OPTIMIZERS:
    raise ValueError(f'Unknown optimizer {opt.name!r}; choose one of {list(OPTIMIZERS)} (config.optimizer.name).')
  schedule = make_schedule(sched, float(opt.learning_rate), total_steps)
  mask: Callable | None = None if opt.decay_norm_and_bias else decay_mask
  lr_mults = lr_mult_rules(opt)
  if not lr_mults:
    return _single(opt, schedule, mask), schedule
  for pattern, _ in lr_mults:
    re.compile(pattern)  # a bad regex fails here, with its own message
  mults = sorted({m for _, m in lr_mults} | {1.0})
  transforms = {str(m): optax.set_to_zero() if m == 0 else
                _single(opt, (lambda m: lambda step: m * schedule(step))(m), mask) for m in mults}
  labels = lambda params: jax.tree.map(lambda p: str(lr_multiplier(p, lr_mults)), param_paths(params))
  return optax.multi_transform(transforms, labels), schedule
