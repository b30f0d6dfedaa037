"""MobileNetV2's inverted residual block, named as torchvision's `InvertedResidual`.

    expand:   1x1 conv C -> t*C, BN, ReLU6          (absent when t == 1)
    depthwise 3x3/s conv on t*C channels, BN, ReLU6
    project:  1x1 conv t*C -> C' (linear bottleneck: BN, no activation)
    out = x + project(...) when s == 1 and C == C', else project(...)

"Inverted": the residual connects the thin bottlenecks and the block widens in between.
torchvision's child 'conv' is a Sequential: with expansion '0' expand, '1' depthwise (each a
Conv2dNormActivation with '0' conv, '1' BN), '2' the projection conv, '3' its BN; without
expansion the indices shift down by one.
"""
import functools

import flax.linen as nn
import jax

from cnn_jax.nn.batch_norm import BatchNorm
from cnn_jax.nn.blocks import ConvBNAct, ModuleDef
from cnn_jax.nn.conv import Conv
from cnn_jax.nn.sequential import IndexedSequential


class InvertedResidual(nn.Module):
  """`[N, H, W, C] -> [N, ceil(H/s), ceil(W/s), features]` (see the module doc).

  Attributes: features (C'), strides (s, 1 or 2), expand_ratio (t), conv/norm factories.
  """
  features: int
  strides: int = 1
  expand_ratio: int = 6
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = BatchNorm

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    hidden = int(round(channels * self.expand_ratio))
    conv_bn_act = functools.partial(ConvBNAct, conv_layer=self.conv_layer,
                                    norm_layer=self.norm_layer, activation=nn.relu6)
    layers = []
    if self.expand_ratio != 1:
      layers.append(functools.partial(conv_bn_act, hidden, 1))
    layers += [functools.partial(conv_bn_act, hidden, 3, self.strides, groups=hidden),
               functools.partial(self.conv_layer, self.features, (1, 1), padding=0),
               self.norm_layer]
    y = IndexedSequential(tuple(layers), name='conv')(x)
    return x + y if self.strides == 1 and channels == self.features else y
