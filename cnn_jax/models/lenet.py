"""LeNet-5 as the course draws it.

    INPUT 32x32xC -> CONV1 5x5 valid (6) -> POOL1 2x2/2 -> CONV2 5x5 valid (16) -> POOL2 2x2/2
      -> FC3 120 -> FC4 84 -> Softmax (classes)

Each layer is a named submodule so `models.summarize` prints the course's table and
`models.features` returns activations by these names. The output holds logits: the softmax
itself is applied by the loss (numerically stable log-softmax), not by the module.
"""
from typing import Literal

import flax.linen as nn
import jax

from cnn_jax.nn.pooling import AvgPool, MaxPool

_ACTIVATIONS = {'relu': nn.relu, 'tanh': nn.tanh, 'sigmoid': nn.sigmoid}
_POOLS = {'max': MaxPool, 'avg': AvgPool}


class LeNet5(nn.Module):
  """LeNet-5: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 32 for 5x5/2/5x5/2 to fit).

  Attributes:
    num_classes: size of the output layer.
    filters: channels of CONV1 and CONV2, (6, 16) in the course.
    hidden: widths of FC3 and FC4, (120, 84) in the course.
    activation: 'relu', 'tanh' or 'sigmoid', after every conv and hidden FC.
    pooling: 'max' or 'avg' (LeNet-5's original subsampling is average pooling).
  """
  num_classes: int = 10
  filters: tuple[int, int] = (6, 16)
  hidden: tuple[int, int] = (120, 84)
  activation: Literal['relu', 'tanh', 'sigmoid'] = 'relu'
  pooling: Literal['max', 'avg'] = 'max'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout or batch norm in LeNet-5
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f'Unknown activation {self.activation!r}; choose one of {sorted(_ACTIVATIONS)}.')
    if self.pooling not in _POOLS:
      raise ValueError(f'Unknown pooling {self.pooling!r}; choose one of {sorted(_POOLS)}.')
    act, pool = _ACTIVATIONS[self.activation], _POOLS[self.pooling]
    x = act(nn.Conv(self.filters[0], (5, 5), padding='VALID', name='CONV1')(x))
    x = pool((2, 2), name='POOL1')(x)
    x = act(nn.Conv(self.filters[1], (5, 5), padding='VALID', name='CONV2')(x))
    x = pool((2, 2), name='POOL2')(x)
    x = x.reshape(x.shape[0], -1)
    x = act(nn.Dense(self.hidden[0], name='FC3')(x))
    x = act(nn.Dense(self.hidden[1], name='FC4')(x))
    return nn.Dense(self.num_classes, name='Softmax')(x)
