"""Model tables and the input-shape guard, for any Linen model, without copying it.

`summarize` reproduces the course's table (layer, activation shape, activation size,
parameters) from shapes alone (`jax.eval_shape`: nothing is compiled or allocated).
`check_input_shape` names the layer an input is too small for. Layer names are module paths
joined by '/', e.g. 'CONV1' or 'layer1/0/conv2' (the names `models.features` takes).
"""
import dataclasses
import functools
import math
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.ops import conv_autotune


class InputShapeError(ValueError):
  """The model cannot take an input of this shape; the message names the layer."""


@dataclasses.dataclass(frozen=True)
class Row:
  """One line of the table: a layer's output shape (without batch) and its parameters."""
  layer: str
  shape: tuple[int, ...]
  size: int
  params: int


def _shape_checker(next_fun, args, kwargs, context, calls=None):
  """Linen interceptor: re-raise a layer's failure with its path and input shape.

  When `calls` is a list, appends `[path, output]` for every module call in call order.
  """
  if context.method_name != '__call__':
    return next_fun(*args, **kwargs)
  path = '/'.join(context.module.path) or type(context.module).__name__
  in_shape = tuple(getattr(args[0], 'shape', ())) if args else ()
  record = [tuple(context.module.path), None]
  if calls is not None:
    calls.append(record)
  try:
    out = next_fun(*args, **kwargs)
  except InputShapeError:
    raise
  except (TypeError, ValueError) as e:
    raise InputShapeError(
        f'Layer {path!r} ({type(context.module).__name__}) cannot take input of shape {in_shape}: '
        f'{e}. Resize the images (config.data.image_size) or change the model.') from None
  for leaf in jax.tree.leaves(out):
    if any(d <= 0 for d in leaf.shape):
      raise InputShapeError(
          f'Layer {path!r} ({type(context.module).__name__}) turns input {in_shape} into an empty '
          f'output {tuple(leaf.shape)}: its window is larger than the image at that depth. '
          'Use larger images (config.data.image_size) or a model with fewer downsamplings.')
  record[1] = out
  return out


def _abstract_init(model: nn.Module, input_shape: Sequence[int], batch_size: int, calls=None,
                   **kwargs):
  x = jax.ShapeDtypeStruct((batch_size, *input_shape), jnp.float32)
  rngs = {'params': jax.random.key(0), 'dropout': jax.random.key(1)}
  checker = functools.partial(_shape_checker, calls=calls)

  def init(x):
    with nn.intercept_methods(checker):
      return model.init_with_output(rngs, x, train=False, **kwargs)

  with conv_autotune.untimed():  # shapes only: no conv runs, so nothing to time
    return jax.eval_shape(init, x)


def check_input_shape(model: nn.Module, input_shape: Sequence[int], **kwargs) -> Any:
  """Raises `InputShapeError` naming the layer if `model` cannot take `[1, *input_shape]`.

  Returns the abstract (shape-only) output. Costs a trace, no compilation.
  """
  out, _ = _abstract_init(model, input_shape, 1, **kwargs)
  return out


def _count(tree) -> int:
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def summarize(model: nn.Module, input_shape: Sequence[int], depth: int = 1,
              batch_size: int = 1, **kwargs) -> list[Row]:
  """The course's table for `model` on inputs `[batch_size, *input_shape]`.

  Rows: 'Input', then every layer (module) at most `depth` levels deep in call order, then
  'Total' (parameter totals include every trainable parameter of the model). Activation
  size is the product of the shape without the batch dim. Nothing is compiled.
  """
  calls = []
  _, variables = _abstract_init(model, input_shape, batch_size, calls=calls, **kwargs)
  params = flax.core.unfreeze(variables).get('params', {})
  rows = [Row('Input', tuple(input_shape), math.prod(input_shape), 0)]
  seen = set()
  for layer, out in calls:
    if not 1 <= len(layer) <= depth or layer in seen:  # a shared layer is listed once
      continue
    seen.add(layer)
    out = jax.tree.leaves(out)[0]
    sub = params
    for p in layer:
      sub = sub.get(p, {}) if isinstance(sub, dict) else {}
    rows.append(Row('/'.join(layer), tuple(out.shape[1:]), math.prod(out.shape[1:]), _count(sub)))
  # Activations are counted once: a container row (e.g. 'features' at depth 2) is left out
  # of the total when its children are listed too.
  names = [r.layer for r in rows]
  leaves = [r for r in rows if not any(n.startswith(r.layer + '/') for n in names)]
  rows.append(Row('Total', (), sum(r.size for r in leaves), _count(params)))
  return rows


def format_summary(rows: Sequence[Row]) -> str:
  """Renders `summarize` rows as the course's aligned text table."""
  header = ('Layer', 'Activation shape', 'Activation size', '# parameters')
  body = [(r.layer, str(r.shape) if r.shape else '', f'{r.size:,}', f'{r.params:,}') for r in rows]
  widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]
  fmt = lambda line: '  '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths)))
  rule = '-' * len(fmt(header))
  return '\n'.join([fmt(header), rule, *map(fmt, body[:-1]), rule, fmt(body[-1])])
