"""Conv -> batch norm -> activation, and the conv/norm factories every zoo model injects.

Batch norm follows PyTorch: y = (x - mean) / sqrt(var + eps) * scale + bias with eps = 1e-5
by default, and in training the running statistics move as
running = momentum * running + (1 - momentum) * batch, Flax momentum 0.9 == PyTorch's
momentum=0.1. (PyTorch updates running_var with the unbiased batch variance, Flax with the
biased one: a factor m / (m - 1) on m = N*H*W cells, negligible and irrelevant to eval.)
"""
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.nn.batch_norm import BatchNorm, norm_act
from cnn_jax.nn.conv import Conv

ModuleDef = Any  # a Linen Module class or functools.partial of one

# PyTorch's kaiming_normal_(mode='fan_out', nonlinearity='relu'): N(0, 2 / (k*k*C_out)).
kaiming_normal_fan_out = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def conv_factory(impl: str = 'xla', dtype: Any = jnp.float32,
                 kernel_init: Callable = kaiming_normal_fan_out, use_bias: bool = False) -> ModuleDef:
  """`Conv` with the model's formulation (`impl`), compute dtype and initializer bound."""
  return functools.partial(Conv, impl=impl, dtype=dtype, kernel_init=kernel_init, use_bias=use_bias)


def norm_factory(train: bool, epsilon: float = 1e-5, momentum: float = 0.9,
                 dtype: Any = jnp.float32) -> ModuleDef:
  """`nn.batch_norm.BatchNorm` (flax's, with the activation fused: `norm_act`) over NHWC
  channels: batch statistics when `train`, running ones otherwise.

  momentum 0.9 (Flax) == PyTorch's momentum 0.1; eps 1e-5 is PyTorch's default (GoogLeNet
  uses 1e-3, Keras' MobileNet 1e-3: those models pass their own).
  """
  return functools.partial(BatchNorm, use_running_average=not train, momentum=momentum,
                           epsilon=epsilon, dtype=dtype)


def scaled_width(channels: int, multiplier: float) -> int:
  """A layer's width under a width multiplier: max(1, round(channels * multiplier))."""
  return max(1, int(round(channels * multiplier)))


def torch_padding(kernel_size: int) -> int:
  """PyTorch's symmetric 'same-ish' padding p = (f - 1) // 2 (n_out = ceil(n / s) for odd f)."""
  return (kernel_size - 1) // 2


class ConvBNAct(nn.Module):
  """`[N, H, W, C] -> [N, H', W', features]`: act(BN(conv(x))), conv without bias.

  H' = floor((H + 2p - f) / s) + 1 with p = `padding` (default (f - 1) // 2).
  Children are named after the reference: torchvision's `Conv2dNormActivation` uses '0', '1'
  (MobileNetV2), its GoogLeNet `BasicConv2d` uses 'conv', 'bn'.

  Attributes:
    features: output channels. kernel_size: f. strides: s. groups: feature groups (C for
    depthwise). padding: int p or (lo, hi) pairs per dim; None = (f - 1) // 2.
    activation: applied last (None = linear). conv_layer / norm_layer: factories from
    `conv_factory` / `norm_factory`. conv_name / norm_name: the children's names.
  """
  features: int
  kernel_size: int = 3
  strides: int = 1
  groups: int = 1
  padding: Any = None
  activation: Callable[[jax.Array], jax.Array] | None = nn.relu
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = BatchNorm
  conv_name: str = '0'
  norm_name: str = '1'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k = self.kernel_size
    padding = torch_padding(k) if self.padding is None else self.padding
    x = self.conv_layer(self.features, (k, k), strides=self.strides, padding=padding,
                        feature_group_count=self.groups, name=self.conv_name)(x)
    return norm_act(self.norm_layer, x, self.activation, name=self.norm_name)
