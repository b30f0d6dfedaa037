"""ResNet's residual blocks, named as torchvision's (`BasicBlock`, `Bottleneck`, v1.5).

A residual block learns F(x) and outputs relu(F(x) + shortcut(x)); the shortcut is the
identity when shapes match, else torchvision's `downsample` projection: '0' a 1x1 conv with
the block's stride (no bias) and '1' batch norm. ResNet v1.5 puts a bottleneck's stride on
its 3x3 conv (torchvision), not on the first 1x1 (the original paper).
"""
import functools
from typing import ClassVar

import flax.linen as nn
import jax

from cnn_jax.nn.batch_norm import BatchNorm, norm_act
from cnn_jax.nn.blocks import ModuleDef
from cnn_jax.nn.conv import Conv
from cnn_jax.nn.sequential import IndexedSequential


def projection_shortcut(features: int, strides: int, conv_layer: ModuleDef,
                        norm_layer: ModuleDef) -> IndexedSequential:
  """torchvision's `downsample`: `[N, H, W, C] -> [N, H/s, W/s, features]`, 1x1 conv + BN."""
  return IndexedSequential((functools.partial(conv_layer, features, (1, 1), strides=strides, padding=0),
                            norm_layer), name='downsample')


class BasicBlock(nn.Module):
  """`[N, H, W, C] -> [N, H/s, W/s, features]` (ResNet-18/34):

      y = relu(bn2(conv2_3x3(relu(bn1(conv1_3x3/s(x))))) + shortcut(x))

  Attributes:
    features: output channels (torchvision's `planes`; expansion 1). strides: s of conv1.
    conv_layer / norm_layer: factories (`nn.blocks.conv_factory` / `norm_factory`).
    zero_init_residual: start bn2's scale at 0, so the block starts as the identity.
  """
  features: int
  strides: int = 1
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = BatchNorm
  zero_init_residual: bool = False
  expansion: ClassVar[int] = 1

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
    y = self.conv_layer(self.features, (3, 3), strides=self.strides, padding=1, name='conv1')(x)
    y = norm_act(self.norm_layer, y, nn.relu, name='bn1')
    y = self.conv_layer(self.features, (3, 3), padding=1, name='conv2')(y)
    if self.strides != 1 or x.shape[-1] != self.features:
      x = projection_shortcut(self.features, self.strides, self.conv_layer, self.norm_layer)(x)
    return norm_act(self.norm_layer, y, nn.relu, residual=x, scale_init=last_scale, name='bn2')


class Bottleneck(nn.Module):
  """`[N, H, W, C] -> [N, H/s, W/s, 4 * features]` (ResNet-50/101/152):

      y = relu(bn3(conv3_1x1(relu(bn2(conv2_3x3/s(relu(bn1(conv1_1x1(x)))))))) + shortcut(x))

  conv1 reduces to `width = features * base_width / 64 * groups` channels, conv2 (grouped when
  groups > 1, ResNeXt) works at that width, conv3 expands to `4 * features`.

  Attributes: as `BasicBlock`, plus groups and base_width (64, 1 for plain ResNet).
  """
  features: int
  strides: int = 1
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = BatchNorm
  zero_init_residual: bool = False
  groups: int = 1
  base_width: int = 64
  expansion: ClassVar[int] = 4

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    last_scale = nn.initializers.zeros if self.zero_init_residual else nn.initializers.ones
    width = int(self.features * (self.base_width / 64.0)) * self.groups
    out = self.features * self.expansion
    y = self.conv_layer(width, (1, 1), padding=0, name='conv1')(x)
    y = norm_act(self.norm_layer, y, nn.relu, name='bn1')
    y = self.conv_layer(width, (3, 3), strides=self.strides, padding=1,
                        feature_group_count=self.groups, name='conv2')(y)
    y = norm_act(self.norm_layer, y, nn.relu, name='bn2')
    y = self.conv_layer(out, (1, 1), padding=0, name='conv3')(y)
    if self.strides != 1 or x.shape[-1] != out:
      x = projection_shortcut(out, self.strides, self.conv_layer, self.norm_layer)(x)
    return norm_act(self.norm_layer, y, nn.relu, residual=x, scale_init=last_scale, name='bn3')
