"""GoogLeNet's Inception block and auxiliary classifier, named as torchvision's.

An Inception block runs four branches on the same input and concatenates them on channels:

    branch1: 1x1 conv                                  -> ch1x1
    branch2: 1x1 conv (reduce to ch3x3red) -> 3x3 conv -> ch3x3
    branch3: 1x1 conv (reduce to ch5x5red) -> kxk conv -> ch5x5
    branch4: 3x3/1 max pool (pad 1) -> 1x1 conv         -> pool_proj
    out = concat(...)   [N, H, W, ch1x1 + ch3x3 + ch5x5 + pool_proj]

The 1x1 reductions are the course's "bottleneck layer": a 1x1 conv before the 3x3/5x5 cuts
the multiplications by the ratio of channels. Every conv is conv -> BN -> ReLU (torchvision's
`BasicConv2d`: children 'conv', 'bn', BN eps 1e-3). torchvision's branch3 uses a 3x3 conv
where the paper has 5x5 (a known bug kept for its weights, pytorch/vision#906):
`branch3_kernel` picks 3 (torchvision) or 5 (the paper).
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.nn.blocks import ConvBNAct, ModuleDef
from cnn_jax.nn.conv import Conv
from cnn_jax.nn.flatten import flatten_channels_first
from cnn_jax.nn.pooling import AdaptiveAvgPool, MaxPool
from cnn_jax.nn.sequential import IndexedSequential


def basic_conv(features: int, kernel_size: int, conv_layer: ModuleDef, norm_layer: ModuleDef,
               **kwargs) -> ModuleDef:
  """Factory of torchvision's `BasicConv2d`: conv (no bias) 'conv' -> BN 'bn' -> ReLU."""
  return functools.partial(ConvBNAct, features, kernel_size, conv_layer=conv_layer,
                           norm_layer=norm_layer, conv_name='conv', norm_name='bn', **kwargs)


class Inception(nn.Module):
  """`[N, H, W, C] -> [N, H, W, ch1x1 + ch3x3 + ch5x5 + pool_proj]` (see the module doc).

  Attributes: torchvision's channel counts, `branch3_kernel`, and the conv/norm factories.
  """
  ch1x1: int
  ch3x3red: int
  ch3x3: int
  ch5x5red: int
  ch5x5: int
  pool_proj: int
  branch3_kernel: int = 3
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = nn.BatchNorm

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = functools.partial(basic_conv, conv_layer=self.conv_layer, norm_layer=self.norm_layer)
    branch1 = conv(self.ch1x1, 1)(name='branch1')(x)
    branch2 = IndexedSequential((conv(self.ch3x3red, 1), conv(self.ch3x3, 3)), name='branch2')(x)
    branch3 = IndexedSequential((conv(self.ch5x5red, 1), conv(self.ch5x5, self.branch3_kernel)),
                                name='branch3')(x)
    pool = functools.partial(MaxPool, (3, 3), (1, 1), padding=1, ceil_mode=True)
    branch4 = IndexedSequential((pool, conv(self.pool_proj, 1)), name='branch4')(x)
    return jnp.concatenate([branch1, branch2, branch3, branch4], axis=-1)


class InceptionAux(nn.Module):
  """GoogLeNet's auxiliary classifier: `[N, H, W, C] -> [N, num_classes]` logits.

      adaptive avg pool to 4x4 -> 1x1 BasicConv2d (128) -> flatten (C, H, W)
        -> fc1 (1024) -> ReLU -> dropout (0.7) -> fc2 (num_classes)

  Attributes: num_classes, dropout rate, train (drives dropout), the conv/norm factories and
  dense_init, width_multiplier for the 128/1024 widths (1.0 = torchvision), dtype.
  """
  num_classes: int
  train: bool = False
  dropout: float = 0.7
  width_multiplier: float = 1.0
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = nn.BatchNorm
  dense_init: Any = nn.initializers.lecun_normal()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv_width, fc_width = (max(1, int(c * self.width_multiplier)) for c in (128, 1024))
    x = AdaptiveAvgPool((4, 4), name='avgpool')(x)
    x = basic_conv(conv_width, 1, self.conv_layer, self.norm_layer)(name='conv')(x)
    x = flatten_channels_first(x)
    x = nn.relu(nn.Dense(fc_width, kernel_init=self.dense_init, dtype=self.dtype, name='fc1')(x))
    x = nn.Dropout(self.dropout, deterministic=not self.train, name='dropout')(x)
    return nn.Dense(self.num_classes, kernel_init=self.dense_init, dtype=self.dtype, name='fc2')(x)
