"""Activations of any layer by its module path, for any Linen model, without copying it.

The backbone contract (`models.backbone`: `num_classes=None`, `return_stages=True`) gives
each model's curated stage outputs; `features` reaches every other layer by name instead,
e.g. 'CONV1' (before LeNet's activation), 'layer2/0/downsample' or 'features/29' (the output
of torchvision's `features[29]`), as transfer learning, filter pictures and tests use.
"""
from typing import Sequence

import flax
import flax.linen as nn
import jax
from flax import traverse_util

from cnn_jax.models.summary import summarize


def features(model: nn.Module, variables, x: jax.Array, names: Sequence[str], train: bool = False,
             **kwargs) -> dict[str, jax.Array]:
  """Outputs of the layers `names` (module paths such as 'CONV1' or 'layer2/0') on `x`.

  Runs one forward pass with `capture_intermediates` limited to the requested layers, so
  it is jit-, vmap- and grad-safe and costs no more than the forward pass itself.
  Returns {name: that layer's output}; KeyError listing the model's layers for a wrong name.
  """
  wanted = {tuple(n.split('/')) for n in names}
  capture = lambda module, method: method == '__call__' and tuple(module.path) in wanted
  _, state = model.apply(variables, x, train=train, capture_intermediates=capture,
                         mutable=['intermediates'], **kwargs)
  # {(*path, '__call__'): (output,)}: intermediates sown per call.
  flat = traverse_util.flatten_dict(flax.core.unfreeze(state.get('intermediates', {})))
  found = {'/'.join(p[:-1]): v[0] for p, v in flat.items()}
  missing = sorted(set(names) - set(found))
  if missing:
    layers = [r.layer for r in summarize(model, x.shape[1:], depth=9)[1:-1]]
    raise KeyError(f'No layers named {missing}; layers are: {layers}')
  return {n: found[n] for n in names}
