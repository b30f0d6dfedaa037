"""`IndexedSequential`: PyTorch's `nn.Sequential` naming, so torchvision names map 1:1.

torchvision numbers the layers of a `Sequential` by position and only layers with weights or
buffers appear in its state dict ('features.0.weight', 'features.3.weight': the ReLU at
index 1 and the pool at index 2 hold nothing). `IndexedSequential` keeps that numbering:
entry i is either a Linen module factory (a Module class or a `functools.partial` of one),
instantiated as child `str(i)`, or a plain function (an activation), applied but not named.
So the Flax path of a parameter is its torchvision key split on '.', e.g. 'features.3.weight'
-> params['features']['3']['kernel'], and `models.features(..., ['features/2'])` returns the
activation after torchvision's `features[2]`.

`__call__(x, capture={i: name})` also returns the activations after the listed entries, which
is how the zoo's backbones name their stage outputs without changing the parameter tree.
"""
import functools
from typing import Any, Callable, Mapping, Sequence

import flax.linen as nn
import jax


def is_module_factory(layer: Any) -> bool:
  """True for a Linen Module class or a `functools.partial` of one."""
  func = layer.func if isinstance(layer, functools.partial) else layer
  return isinstance(func, type) and issubclass(func, nn.Module)


class IndexedSequential(nn.Module):
  """Applies `layers` in order: `[N, ...] -> [N, ...]`; module entries are named by index.

  Attributes:
    layers: module factories (called as `factory(name=str(i))` then on the activation) and
      plain functions such as `nn.relu` (called on the activation, no child module).
  """
  layers: Sequence[Callable]

  @nn.compact
  def __call__(self, x: jax.Array, capture: Mapping[int, str] | None = None):
    """`x -> y`, or `(y, {name: activation after entry i})` for `capture={i: name}`."""
    if capture is not None:
      bad = sorted(i for i in capture if not 0 <= i < len(self.layers))
      if bad:
        raise ValueError(f'capture indices {bad} outside {self.name!r} (entries 0..{len(self.layers) - 1}).')
    taken = {}
    for i, layer in enumerate(self.layers):
      if isinstance(layer, nn.Module):
        raise TypeError(f'Entry {i} of {self.name!r} is a module instance ({type(layer).__name__}); '
                        'pass its class or a functools.partial of it so it is named by index.')
      x = layer(name=str(i))(x) if is_module_factory(layer) else layer(x)
      if capture is not None and i in capture:
        taken[capture[i]] = x
    return x if capture is None else (x, taken)
