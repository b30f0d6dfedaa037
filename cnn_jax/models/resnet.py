"""ResNet-18/34/50/101/152 (He et al. 2015), torchvision's v1.5, plus a CIFAR stem.

    INPUT 224x224x3
    conv1 7x7/2 p3 (64), bn1, ReLU, maxpool 3x3/2 p1        -> 112x112x64 -> 56x56x64
    layer1: n1 blocks, 64 wide                                -> 56x56x(64 e)
    layer2: n2 blocks, 128 wide, first block stride 2        -> 28x28x(128 e)
    layer3: n3 blocks, 256 wide, first block stride 2        -> 14x14x(256 e)
    layer4: n4 blocks, 512 wide, first block stride 2        -> 7x7x(512 e)
    avgpool (global) -> fc num_classes

    ResNet-18  BasicBlock  (2, 2, 2, 2)   e = 1   11,689,512 parameters at 1000 classes
    ResNet-34  BasicBlock  (3, 4, 6, 3)   e = 1   21,797,672
    ResNet-50  Bottleneck  (3, 4, 6, 3)   e = 4   25,557,032
    ResNet-101 Bottleneck  (3, 4, 23, 3)  e = 4   44,549,160
    ResNet-152 Bottleneck  (3, 8, 36, 3)  e = 4   60,192,808

Blocks are `nn.residual.BasicBlock` / `Bottleneck` (projection shortcut 'downsample' when
the shape changes, stride on the 3x3). Names are torchvision's: 'layer3.1.conv2.weight' is
params['layer3']['1']['conv2']['kernel'], 'layer2.0.downsample.1.running_mean' is
batch_stats['layer2']['0']['downsample']['1']['mean']. Batch norm: eps 1e-5, PyTorch
momentum 0.1 (Flax 0.9). Convs init as torchvision (Kaiming normal, fan_out).

Headless (`num_classes=None`): the output is the pooled [N, 512 e] (the fc's input), and
`return_stages=True` adds the stage outputs (`models` package doc), each the last activation
at its stride:

    'stem'    relu(bn1(conv1)), before the max pool   stride 2    64
    'stage1'..'stage4'  layer1..layer4                 stride 4, 8, 16, 32
    'pre_logits'  avgpool output [N, 512 e]

`small_input=True` is the CIFAR stem (He et al. sec. 4.2 style, as used by most CIFAR
ResNet-18s): conv1 3x3/1 p1 and no max pool, so 32x32 reaches layer4 at 4x4, not 1x1.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models import backbone
from cnn_jax.models.backbone import check_num_classes, finish
from cnn_jax.nn.batch_norm import norm_act
from cnn_jax.nn.blocks import conv_factory, norm_factory, scaled_width
from cnn_jax.nn.pooling import GlobalAvgPool, MaxPool
from cnn_jax.nn.residual import BasicBlock, Bottleneck
from cnn_jax.nn.sequential import IndexedSequential

BLOCKS = {'basic': BasicBlock, 'bottleneck': Bottleneck}


class ResNet(nn.Module):
  """ResNet: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 1; 224 or 32 typical).

  Attributes:
    stage_sizes: blocks per stage (torchvision's `layers`), e.g. (2, 2, 2, 2).
    block: 'basic' or 'bottleneck'.
    num_classes: None = headless (no 'fc'; returns the pooled [N, 512 e]).
    width_multiplier: scales the stage widths 64/128/256/512 (1.0 = torchvision).
    small_input: the CIFAR stem (module doc). zero_init_residual: last BN of each block
      starts at scale 0 (Goyal et al.; torchvision's flag of the same name).
    groups, width_per_group: ResNeXt / wide ResNet bottlenecks (1, 64 = plain ResNet).
    conv_impl: `nn.conv.Conv` formulation ('auto'). dtype: compute dtype (logits are float32).
  """
  stage_sizes: Sequence[int] = (2, 2, 2, 2)
  block: str = 'basic'
  num_classes: int | None = 1000
  width_multiplier: float = 1.0
  small_input: bool = False
  zero_init_residual: bool = False
  groups: int = 1
  width_per_group: int = 64
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    names = ('stem', *(f'stage{i + 1}' for i in range(len(self.stage_sizes))))
    return backbone.stage_strides(2 if self.small_input else 0, names)  # CIFAR stem: no stride, no pool

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (pooled features when headless); with
    `return_stages`, `(that, {name: activation})` as in the module doc."""
    check_num_classes(self.num_classes)
    if self.block not in BLOCKS:
      raise ValueError(f'Unknown block {self.block!r}; choose one of {sorted(BLOCKS)}.')
    conv = conv_factory(self.conv_impl, self.dtype)
    norm = norm_factory(train, dtype=self.dtype)
    width = scaled_width(64, self.width_multiplier)
    if self.small_input:
      x = conv(width, (3, 3), strides=1, padding=1, name='conv1')(x)
    else:
      x = conv(width, (7, 7), strides=2, padding=3, name='conv1')(x)
    x = norm_act(norm, x, nn.relu, name='bn1')
    stages = {'stem': x}
    if not self.small_input:
      x = MaxPool((3, 3), (2, 2), padding=1, name='maxpool')(x)

    block = functools.partial(BLOCKS[self.block], conv_layer=conv, norm_layer=norm,
                              zero_init_residual=self.zero_init_residual)
    if self.block == 'bottleneck':
      block = functools.partial(block, groups=self.groups, base_width=self.width_per_group)
    elif (self.groups, self.width_per_group) != (1, 64):
      raise ValueError('BasicBlock supports only groups=1 and width_per_group=64 (as torchvision).')
    for i, num_blocks in enumerate(self.stage_sizes):
      features = scaled_width(64 * 2 ** i, self.width_multiplier)
      blocks = [functools.partial(block, features, 2 if i > 0 and j == 0 else 1)
                for j in range(num_blocks)]
      x = stages[f'stage{i + 1}'] = IndexedSequential(tuple(blocks), name=f'layer{i + 1}')(x)

    x = stages['pre_logits'] = GlobalAvgPool(name='avgpool')(x)
    if self.num_classes is not None:
      x = nn.Dense(self.num_classes, dtype=self.dtype, name='fc')(x)
    return finish(x, stages, return_stages)
