"""MobileNet v1 (Howard et al. 2017, as Keras') and MobileNetV2 (Sandler et al. 2018, as
torchvision's), with width multiplier alpha and a 32x32 variant.

MobileNet v1 (`nn.separable.DepthwiseSeparable` blocks, Keras names):

    INPUT 224x224x3 -> conv1 3x3/2 (32) conv1_bn ReLU6                       -> 112x112x32
    block_1 (64) block_2 /2 (128) block_3 (128) block_4 /2 (256) block_5 (256)  -> 28x28x256
    block_6 /2 (512) block_7..block_11 (512) block_12 /2 (1024) block_13 (1024) -> 7x7x1024
    avgpool (global) -> dropout (1e-3) -> conv_preds 1x1 (num_classes, with bias)

  Channels are int(c * alpha) as Keras. At alpha = 1 and 1000 classes: 4,231,976 trainable
  parameters + 21,888 batch-norm statistics (Keras' figures). BN eps 1e-3 as Keras.

MobileNetV2 (`nn.inverted_residual.InvertedResidual` blocks, torchvision names):

    features.0: conv 3x3/2 (32) BN ReLU6                                     -> 112x112x32
    features.1..17, rows (t expansion, c channels, n blocks, s first stride):
      (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 4, 2) (6, 96, 3, 1) (6, 160, 3, 2)
      (6, 320, 1, 1)                                                            -> 7x7x320
    features.18: conv 1x1 (1280) BN ReLU6 -> avgpool (global)
    classifier: 0 dropout (0.2), 1 fc num_classes

  Channels are torchvision's `_make_divisible(c * alpha, 8)`; the last conv keeps
  1280 * max(1, alpha). 3,504,872 parameters at alpha = 1 and 1000 classes. BN eps 1e-5,
  PyTorch momentum 0.1 (Flax 0.9). 'features.3.conv.1.0.weight' (the depthwise conv of the
  third block) is params['features']['3']['conv']['1']['0']['kernel'].

Headless (`num_classes=None`): no dropout and classifier (v1's conv_preds, v2's classifier);
the output is the pooled [N, 1024 alpha] (v1) / [N, 1280] (v2). `return_stages=True` adds,
by the zoo's rule (the last activation at each stride):

    name      v1          v2 (torchvision index)   stride (224 input)
    'stem'    block_1     features.1   (16 ch)    2
    'stage1'  block_3     features.3   (24 ch)    4
    'stage2'  block_5     features.6   (32 ch)    8
    'stage3'  block_11    features.13  (96 ch)    16
    'stage4'  block_13    features.18  (1280 ch)  32     and 'pre_logits', the pooled [N, D]

(v2's are the encoder levels of segmentation_models_pytorch's MobileNetV2 U-Net.)

`small_input=True` (32x32, CIFAR-style): v1's conv1 has stride 1 (32 -> 2x2 at the end); v2's
features.0 and first 24-channel block have stride 1 (32 -> 4x4 at the end).
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models import backbone
from cnn_jax.models.backbone import check_num_classes, finish, run_sequential
from cnn_jax.nn.batch_norm import norm_act
from cnn_jax.nn.blocks import ConvBNAct, conv_factory, norm_factory
from cnn_jax.nn.inverted_residual import InvertedResidual
from cnn_jax.nn.pooling import GlobalAvgPool
from cnn_jax.nn.separable import DepthwiseSeparable, keras_padding
from cnn_jax.nn.sequential import IndexedSequential

# MobileNet v1: (pointwise channels, depthwise stride) of block_1 .. block_13.
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
# MobileNetV2: (expansion t, channels c, repeats n, first stride s).
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))


def _v2_stage_ends() -> dict[int, str]:
  """{features index: stage name}: the last block before each stride-2 row, and features.18."""
  ends, index = {}, 0
  for row, (_, _, repeats, _) in enumerate(V2_STAGES):
    index += repeats
    if row + 1 < len(V2_STAGES) and V2_STAGES[row + 1][3] == 2:
      ends[index] = 'stem' if not ends else f'stage{len(ends)}'
  ends[index + 1] = f'stage{len(ends)}'
  return ends


def make_divisible(value: float, divisor: int = 8) -> int:
  """torchvision's `_make_divisible`: the nearest multiple of `divisor` >= divisor that is
  at least 90% of `value`."""
  new = max(divisor, int(value + divisor / 2) // divisor * divisor)
  return new + divisor if new < 0.9 * value else new


class MobileNetV1(nn.Module):
  """MobileNet v1: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 32; >= 16 if small_input).

  Attributes:
    num_classes: None = headless (module doc). alpha: width multiplier. dropout: before
    conv_preds (Keras' 1e-3).
    small_input: the 32x32 variant. bn_epsilon: 1e-3 as Keras (momentum: Flax 0.9).
    conv_impl: `nn.conv.Conv` formulation ('auto'). dtype: compute dtype (logits are float32).
  """
  num_classes: int | None = 1000
  alpha: float = 1.0
  dropout: float = 1e-3
  small_input: bool = False
  bn_epsilon: float = 1e-3
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    return backbone.stage_strides(1 if self.small_input else 0)  # small: conv1 has stride 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (features when headless, module doc);
    with `return_stages`, `(that, {name: activation})`."""
    check_num_classes(self.num_classes)
    conv = conv_factory(self.conv_impl, self.dtype)
    norm = norm_factory(train, epsilon=self.bn_epsilon, dtype=self.dtype)
    stride = 1 if self.small_input else 2
    x = conv(int(32 * self.alpha), (3, 3), strides=stride, padding=keras_padding(stride),
             name='conv1')(x)
    x = norm_act(norm, x, nn.relu6, name='conv1_bn')
    stages = {}
    for i, (channels, strides) in enumerate(V1_BLOCKS, start=1):
      x = DepthwiseSeparable(int(channels * self.alpha), strides, conv_layer=conv,
                             norm_layer=norm, name=f'block_{i}')(x)
      if i == len(V1_BLOCKS) or V1_BLOCKS[i][1] == 2:  # the last block at its stride
        stages['stem' if not stages else f'stage{len(stages)}'] = x
    x = stages['pre_logits'] = GlobalAvgPool(name='avgpool')(x)
    if self.num_classes is None:
      return finish(x, stages, return_stages)
    x = nn.Dropout(self.dropout, deterministic=not train, name='dropout')(x)
    classifier = conv_factory(self.conv_impl, self.dtype, nn.initializers.lecun_normal(),
                              use_bias=True)
    x = classifier(self.num_classes, (1, 1), padding=0, name='conv_preds')(x[:, None, None, :])
    return finish(x.reshape(x.shape[0], self.num_classes), stages, return_stages)


class MobileNetV2(nn.Module):
  """MobileNetV2: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 1; 224 or 32 typical).

  Attributes:
    num_classes: None = headless (module doc). alpha: width multiplier (torchvision's
    width_mult). dropout: 0.2.
    small_input: the 32x32 variant. bn_epsilon: 1e-5 (momentum: Flax 0.9).
    conv_impl: `nn.conv.Conv` formulation ('auto'). dtype: compute dtype (logits are float32).
  """
  num_classes: int | None = 1000
  alpha: float = 1.0
  dropout: float = 0.2
  small_input: bool = False
  bn_epsilon: float = 1e-5
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    return backbone.stage_strides(2 if self.small_input else 0)  # small: features.0, first 24-wide block

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (features when headless, module doc);
    with `return_stages`, `(that, {name: activation})`."""
    check_num_classes(self.num_classes)
    conv = conv_factory(self.conv_impl, self.dtype)
    norm = norm_factory(train, epsilon=self.bn_epsilon, dtype=self.dtype)
    conv_bn_relu6 = functools.partial(ConvBNAct, conv_layer=conv, norm_layer=norm,
                                      activation=nn.relu6)
    layers = [functools.partial(conv_bn_relu6, make_divisible(32 * self.alpha), 3,
                                1 if self.small_input else 2)]
    for stage, (t, c, n, s) in enumerate(V2_STAGES):
      if self.small_input and stage == 1:
        s = 1
      for j in range(n):
        layers.append(functools.partial(InvertedResidual, make_divisible(c * self.alpha),
                                        s if j == 0 else 1, t, conv_layer=conv, norm_layer=norm))
    layers.append(functools.partial(conv_bn_relu6, make_divisible(1280 * max(1.0, self.alpha)), 1))
    x, stages = run_sequential(IndexedSequential(tuple(layers), name='features'), x,
                               _v2_stage_ends(), return_stages)
    x = stages['pre_logits'] = GlobalAvgPool(name='avgpool')(x)
    if self.num_classes is not None:
      dense = functools.partial(nn.Dense, self.num_classes, dtype=self.dtype,
                                kernel_init=nn.initializers.normal(0.01))
      x = IndexedSequential((functools.partial(nn.Dropout, self.dropout, deterministic=not train),
                             dense), name='classifier')(x)
    return finish(x, stages, return_stages)
