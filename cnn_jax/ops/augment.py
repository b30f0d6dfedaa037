"""On-device data augmentation: pure, jittable ops and a spec-driven composer.

    augment = make_augment('flip_lr|pad_crop(pad=4)|color(brightness=0.2, contrast=0.2)')
    x = augment(key, image)                       # one image [H, W, C] in [0, 1]
    x, boxes = augment(key, image, boxes)         # boxes [N, 4] xyxy pixels, moved too
    xs = make_batch_augment(spec)(key, images)    # [B, H, W, C]: one key per image (vmap)

Masks and landmarks move with the image when the sample is a dict (batched: every entry has
the batch axis first):

    augment = make_batch_augment(spec, mask_fill=0, flip_pairs=((0, 1), (3, 4)))
    out = augment(key, {'image': x, 'mask': m, 'points': p, 'boxes': b, 'boxes_valid': v})
    # out: the same entries moved (+ 'points_valid', 'boxes_valid'); others pass through

The mask `[H, W]` / `[H, W, K]` (any dtype) is resampled by nearest neighbour at the image's
own source points, so class and instance ids stay exact; where the image takes a 'constant'
fill the mask takes `mask_fill` (default 0 = background; e.g. 255 to have a loss ignore it).
Points `[K, 2]` (x, y) take the forward map, like boxes; 'points_valid' turns False once a
point leaves the frame; on a flip the pairs in `flip_pairs` swap (left eye <-> right eye).

Inside a jitted train step (the batch stays on device, nothing goes back to the host):

    batch_augment = make_batch_augment(config.data.augment)
    def loss_fn(params, model_state, batch, key):
      images = batch_augment(jax.random.fold_in(key, 1), batch['image'])
      ...

Ops (geometric ones also move boxes; see `augment_geometric` / `augment_color` for formulas):

    flip_lr(p=0.5)  flip_ud(p=0.5)                       mirroring
    pad_crop(pad=4, mode='constant', fill=0.0)          pad-and-crop (shift up to +-pad)
    random_resized_crop(scale=(0.08, 1.0), ratio=(0.75, 1.333), size=None)   Inception crop
    rotate(degrees=15.0, mode, fill)  shear(x=10.0, y=0.0, mode, fill)
    affine(degrees=10.0, translate=0.1, scale=(0.9, 1.1), shear=5.0, mode, fill) RandomAffine
    elastic(alpha=34.0, sigma=4.0, mode='nearest', fill)  local warping (map_coordinates)
    color(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.0)  color_shift(delta=0.1)
    pca_lighting(std=0.1)                                AlexNet's PCA colour augmentation

Spec grammar (a string, so it fits a config field):

    spec  := '' | 'none' | step ('|' step)*
    step  := NAME | NAME '(' [NAME '=' LITERAL (',' NAME '=' LITERAL)*] ')'
    LITERAL := a Python literal: 0.2, 4, True, 'reflect', (0.08, 1.0), None

Steps run left to right, each with its own key (`jax.random.split(key, len(steps))`);
consecutive warps (rotate, shear, affine, elastic, and pad_crop next to one of them) are
composed into one resampling (sharper, and on CPU several times faster than warping a warped
image); a pad_crop between non-warps stays a slice (cheapest).
Every step also takes `p=` (probability of applying it; default 1, flips 0.5). Arguments are
keyword-only; unknown op names or arguments are a ValueError listing the choices. Ranges: a
number v is U[-v, v], a pair (lo, hi) is U[lo, hi] (e.g. `rotate(degrees=(90, 90))`).
"""
import ast
import functools
import inspect
from typing import Callable

import jax
import jax.numpy as jnp

from cnn_jax.ops.augment_color import (color, color_shift, pca_from_images, pca_lighting,
                                       pca_shift)
from cnn_jax.ops.augment_geometric import (affine, as_sample, check_sample, elastic, flip_lr,
                                           flip_permutation, flip_ud, pad_crop,
                                           random_resized_crop, rotate, shear, warp_affine)
from cnn_jax.ops.augment_warp import (WARPS, Warp, affine_matrix, apply_warps, clip_boxes,
                                      transform_boxes, transform_points, warp_sample)

__all__ = ['make_augment', 'make_batch_augment', 'parse_spec', 'OPS', 'flip_lr', 'flip_ud',
           'pad_crop', 'random_resized_crop', 'rotate', 'shear', 'affine', 'elastic', 'color',
           'color_shift', 'pca_lighting', 'pca_shift', 'pca_from_images', 'warp_affine',
           'affine_matrix', 'transform_boxes', 'transform_points', 'clip_boxes', 'apply_warps',
           'warp_sample', 'check_sample', 'Warp']

GEOMETRIC = {'flip_lr': flip_lr, 'flip_ud': flip_ud, 'pad_crop': pad_crop,
             'random_resized_crop': random_resized_crop, 'rotate': rotate, 'shear': shear,
             'affine': affine, 'elastic': elastic}
PHOTOMETRIC = {'color': color, 'color_shift': color_shift, 'pca_lighting': pca_lighting}
OPS: dict[str, Callable] = {**GEOMETRIC, **PHOTOMETRIC}
# Set once for the whole composed augmentation (properties of the data, not of one step).
TARGET_ARGS = ('mask_fill', 'flip_pairs')


def op_params(name: str) -> list[str]:
  """The keyword arguments op `name` accepts in a spec (its own, plus the generic `p`)."""
  skip = {'key', 'image', 'boxes', *TARGET_ARGS}
  params = [n for n in inspect.signature(OPS[name]).parameters if n not in skip]
  return params if 'p' in params else params + ['p']


def _split_steps(spec: str) -> list[str]:
  """Splits on '|' outside parentheses."""
  steps, depth, current = [], 0, ''
  for ch in spec:
    depth += (ch in '([') - (ch in ')]')
    if ch == '|' and depth == 0:
      steps.append(current)
      current = ''
    else:
      current += ch
  return [s.strip() for s in steps + [current]]


def parse_spec(spec: str) -> list[tuple[str, dict]]:
  """'flip_lr|pad_crop(pad=4)' -> [('flip_lr', {}), ('pad_crop', {'pad': 4})] (validated)."""
  spec = (spec or '').strip()
  if spec.lower() in ('', 'none'):
    return []
  steps = []
  for text in _split_steps(spec):
    try:
      node = ast.parse(text, mode='eval').body
    except SyntaxError:
      raise ValueError(f'Augment step {text!r} is not NAME or NAME(arg=value, ...).') from None
    if isinstance(node, ast.Name):
      name, kwargs = node.id, {}
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
      name = node.func.id
      try:
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
      except ValueError:
        raise ValueError(f'Augment step {text!r}: argument values must be literals.') from None
      if None in kwargs:
        raise ValueError(f'Augment step {text!r}: **kwargs are not allowed.')
    else:
      raise ValueError(f'Augment step {text!r} must be NAME or NAME(arg=value, ...) with '
                       'keyword arguments only.')
    if name not in OPS:
      raise ValueError(f'Unknown augmentation {name!r} in {spec!r}; choose from {sorted(OPS)}.')
    unknown = sorted(set(kwargs) - set(op_params(name)))
    if unknown:
      raise ValueError(f'Augmentation {name!r} has no argument(s) {unknown}; it takes '
                       f'{op_params(name)}.')
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    steps.append((name, kwargs))
  return steps


def _step(name: str, kwargs: dict, as_warp: bool, targets: dict) -> tuple[str, Callable]:
  """One parsed step as ('warp', (key, height, width) -> Warp) for rotate/shear/affine/
  elastic (and pad_crop when `as_warp`), else ('op', (key, sample) -> sample); `p` applied
  generically; `targets` (mask_fill, flip_pairs) given to the ops that take them."""
  kwargs = dict(kwargs)
  fn = OPS[name]
  own_p = 'p' in inspect.signature(fn).parameters
  p = float(kwargs['p']) if own_p and 'p' in kwargs else (
      0.5 if own_p else float(kwargs.pop('p', 1.0)))
  if not 0.0 <= p <= 1.0:
    raise ValueError(f'Augmentation {name!r}: p must be in [0, 1].')
  if name in WARPS and as_warp:
    factory = WARPS[name]

    def warp(key, height, width):
      k_apply, k_op = jax.random.split(key)
      applied = True if p >= 1.0 else jax.random.bernoulli(k_apply, p)
      return factory(k_op, height, width, **kwargs, applied=applied)

    warp(jax.random.key(0), 8, 8)  # validates the arguments (mode, sigma) at build time
    return 'warp', warp
  geometric = name in GEOMETRIC
  extra = {k: v for k, v in targets.items() if k in inspect.signature(fn).parameters}

  def run(key, sample):
    k_apply, k_op = jax.random.split(key)
    if geometric:
      new = fn(k_op, sample, **kwargs, **extra)
    else:
      new = {**sample, 'image': fn(k_op, sample['image'], **kwargs)}
    if own_p or p >= 1.0:
      return new
    apply = jax.random.bernoulli(k_apply, p)
    return jax.tree.map(lambda a, b: jnp.where(apply, a, b), new, sample)

  return 'op', run


def make_augment(spec: str, *, mask_fill=0, flip_pairs=None) -> Callable:
  """The composed augmentation of `spec` (grammar in the module doc).

  Returns `augment(key, image, boxes=None)`: image `[H, W, C]` float in [0, 1] -> same
  shape; with boxes `[N, 4]` it returns `(image, boxes)`. Or `augment(key, sample)` with a
  sample dict ('image'; optional 'boxes', 'boxes_valid', 'mask', 'points', 'points_valid';
  `augment_geometric.check_sample`) -> the dict with everything moved together. `mask_fill`:
  the mask value where the image is filled ('constant' mode); `flip_pairs`: point index pairs
  swapped by flips. Pure: the same key gives the same result; works under jit and vmap.
  Consecutive warps (rotate, shear, affine, elastic, and a pad_crop next to one) are composed
  and resampled once (`augment_warp.warp_sample`). `augment.steps` holds the parsed steps.
  """
  parsed = parse_spec(spec)
  if flip_pairs:
    flip_permutation(flip_pairs, 1 + max(int(i) for pair in flip_pairs for i in pair))
  targets = dict(mask_fill=mask_fill, flip_pairs=flip_pairs)
  names = [name for name, _ in parsed]

  def next_to_warp(i: int) -> bool:  # pad_crop shares a neighbouring warp's resampling
    return any(0 <= j < len(names) and names[j] in WARPS and names[j] != 'pad_crop'
               for j in (i - 1, i + 1))

  steps = [_step(name, kwargs, name != 'pad_crop' or next_to_warp(i), targets)
           for i, (name, kwargs) in enumerate(parsed)]

  def augment(key, image, boxes=None):
    sample, legacy = as_sample(image, boxes)
    pending = []
    for step_key, (kind, fn) in zip(jax.random.split(key, max(len(steps), 1)), steps):
      if kind == 'warp':
        pending.append(fn(step_key, *sample['image'].shape[:2]))
        continue
      sample = fn(step_key, warp_sample(sample, pending, mask_fill))
      pending = []
    sample = warp_sample(sample, pending, mask_fill)
    if not legacy:
      return sample
    return sample['image'] if boxes is None else (sample['image'], sample['boxes'])

  augment.steps = parsed
  augment.spec = spec
  return augment


def make_batch_augment(spec: str, *, mask_fill=0, flip_pairs=None) -> Callable:
  """`augment(key, images, boxes=None)` for a batch `[B, H, W, C]` (boxes `[B, N, 4]`), or
  `augment(key, batch)` for a batch dict (every entry with the batch axis first: 'image'
  `[B, H, W, C]`, 'mask' `[B, H, W(, K)]`, 'points' `[B, K, 2]`, ...): `make_augment(spec,
  mask_fill=, flip_pairs=)` vmapped with one key per image (`jax.random.split(key, B)`)."""
  single = make_augment(spec, mask_fill=mask_fill, flip_pairs=flip_pairs)

  @functools.wraps(single)
  def augment(key, images, boxes=None):
    if isinstance(images, dict):  # validity flags are added even when nothing moves
      if 'image' not in images:
        raise ValueError("A batch dict needs 'image' [B, H, W, C]; got entries "
                         f'{sorted(images)}.')
      return jax.vmap(single)(jax.random.split(key, images['image'].shape[0]), images)
    if not single.steps:
      return images if boxes is None else (images, boxes)
    keys = jax.random.split(key, images.shape[0])
    if boxes is None:
      return jax.vmap(single)(keys, images)
    return jax.vmap(single)(keys, images, boxes)

  augment.steps = single.steps
  augment.spec = spec
  return augment
