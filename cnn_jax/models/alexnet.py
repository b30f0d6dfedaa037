"""AlexNet, torchvision's single-tower variant (Krizhevsky 2014 "one weird trick").

    INPUT 224x224x3
    features: 0 CONV 11x11/4 p2 (64) ReLU, 2 MAXPOOL 3x3/2   -> 55x55x64 -> 27x27x64
              3 CONV 5x5 p2 (192)   ReLU, 5 MAXPOOL 3x3/2    -> 27x27x192 -> 13x13x192
              6 CONV 3x3 p1 (384) ReLU, 8 CONV 3x3 p1 (256) ReLU, 10 CONV 3x3 p1 (256) ReLU
              12 MAXPOOL 3x3/2                                -> 13x13x256 -> 6x6x256
    avgpool:  adaptive average pool to 6x6 (the identity at 224x224)
    classifier: 0 Dropout, 1 FC 4096 ReLU, 3 Dropout, 4 FC 4096 ReLU, 6 FC num_classes

61,100,840 parameters at 1000 classes. Flax paths equal torchvision's state-dict keys split
on '.' (see `nn.sequential`); the flatten before the classifier is in PyTorch's (C, H, W)
order, so torchvision's Linear weights map on by a transpose alone.

`small_input=True` (32x32 images): the first conv becomes 3x3/1 p1 and the adaptive pool
1x1, keeping the five-conv, three-pool body (32 -> 15 -> 7 -> 3) and a 256-wide classifier
input instead of replicating one cell 36 times.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.nn.blocks import conv_factory, scaled_width
from cnn_jax.nn.flatten import flatten_channels_first
from cnn_jax.nn.pooling import AdaptiveAvgPool, MaxPool
from cnn_jax.nn.sequential import IndexedSequential


class AlexNet(nn.Module):
  """AlexNet: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 63, or >= 15 if small_input).

  Attributes:
    num_classes: output classes. dropout: rate before FC 1 and FC 4 (train only).
    width_multiplier: scales every conv and hidden FC width (1.0 = torchvision).
    small_input: the 32x32 variant (see the module doc).
    conv_impl: `nn.conv.Conv` formulation. dtype: compute dtype (logits are float32).
  """
  num_classes: int = 1000
  dropout: float = 0.5
  width_multiplier: float = 1.0
  small_input: bool = False
  conv_impl: str = 'xla'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    w = functools.partial(scaled_width, multiplier=self.width_multiplier)
    conv = conv_factory(self.conv_impl, self.dtype, nn.initializers.lecun_normal(), use_bias=True)
    conv3x3 = lambda features: functools.partial(conv, w(features), (3, 3), padding=1)
    pool = functools.partial(MaxPool, (3, 3), (2, 2))
    stem = (functools.partial(conv, w(64), (3, 3), strides=1, padding=1) if self.small_input
            else functools.partial(conv, w(64), (11, 11), strides=4, padding=2))
    x = IndexedSequential((
        stem, nn.relu, pool,
        functools.partial(conv, w(192), (5, 5), padding=2), nn.relu, pool,
        conv3x3(384), nn.relu, conv3x3(256), nn.relu, conv3x3(256), nn.relu, pool),
        name='features')(x)
    x = AdaptiveAvgPool((1, 1) if self.small_input else (6, 6), name='avgpool')(x)
    x = flatten_channels_first(x)
    dense = lambda features: functools.partial(nn.Dense, features, dtype=self.dtype)
    dropout = functools.partial(nn.Dropout, self.dropout, deterministic=not train)
    x = IndexedSequential((
        dropout, dense(w(4096)), nn.relu,
        dropout, dense(w(4096)), nn.relu,
        dense(self.num_classes)), name='classifier')(x)
    return x.astype(jnp.float32)
