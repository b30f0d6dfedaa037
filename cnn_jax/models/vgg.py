"""VGG-11/13/16/19 (Simonyan & Zisserman 2014), with or without batch norm, as torchvision's.

Only 3x3/1 p1 convs (same size) and 2x2/2 max pools (halve): 'M' marks a pool.

    A (VGG-11): 64 M 128 M 256 256 M 512 512 M 512 512 M
    B (VGG-13): 64 64 M 128 128 M 256 256 M 512 512 M 512 512 M
    D (VGG-16): 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M
    E (VGG-19): 64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M

    224x224x3 -> features -> 7x7x512 -> avgpool (adaptive 7x7) -> flatten (25,088)
      -> classifier: 0 FC 4096 ReLU, 2 Dropout, 3 FC 4096 ReLU, 5 Dropout, 6 FC num_classes

VGG-16 has 138,357,544 parameters at 1000 classes (vgg16_bn 138,365,992). torchvision's
`features` numbering holds: conv (bias=True), [BN,] ReLU per entry, a MaxPool per 'M', so
'features.7.weight' is params['features']['7']['kernel']; the flatten is in PyTorch's
(C, H, W) order. Batch norm: eps 1e-5, PyTorch momentum 0.1 (Flax 0.9).

`small_input=True` (32x32, CIFAR-style): the same 13 convs and 5 pools bring 32x32 to 1x1,
the adaptive pool is 1x1, so the classifier takes 512 features instead of 49 copies of them.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.nn.blocks import conv_factory, scaled_width, kaiming_normal_fan_out, norm_factory
from cnn_jax.nn.flatten import flatten_channels_first
from cnn_jax.nn.pooling import AdaptiveAvgPool, MaxPool
from cnn_jax.nn.sequential import IndexedSequential

CONFIGS: dict[str, tuple[int | str, ...]] = {
    'A': (64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'),
    'B': (64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'),
    'D': (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'),
    'E': (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M',
          512, 512, 512, 512, 'M'),
}
DEPTHS = {11: 'A', 13: 'B', 16: 'D', 19: 'E'}


class VGG(nn.Module):
  """VGG: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 32).

  Attributes:
    depth: 11, 13, 16 or 19 (configs A, B, D, E). batch_norm: conv -> BN -> ReLU.
    num_classes. dropout: rate after FC 0 and FC 3 (train only). hidden: FC width (4096).
    width_multiplier: scales every conv and hidden width (1.0 = torchvision).
    small_input: the 32x32 variant (module doc). conv_impl: `nn.conv.Conv` formulation.
    dtype: compute dtype (logits are float32).
  """
  depth: int = 16
  batch_norm: bool = False
  num_classes: int = 1000
  dropout: float = 0.5
  hidden: int = 4096
  width_multiplier: float = 1.0
  small_input: bool = False
  conv_impl: str = 'xla'
  dtype: Any = jnp.float32

  def feature_layers(self, train: bool) -> tuple:
    """torchvision's `features` list for this depth (entries for `IndexedSequential`)."""
    if self.depth not in DEPTHS:
      raise ValueError(f'VGG depth must be one of {sorted(DEPTHS)}, got {self.depth}.')
    conv = conv_factory(self.conv_impl, self.dtype, kaiming_normal_fan_out, use_bias=True)
    norm = norm_factory(train, dtype=self.dtype)
    layers: list = []
    for entry in CONFIGS[DEPTHS[self.depth]]:
      if entry == 'M':
        layers.append(functools.partial(MaxPool, (2, 2), (2, 2)))
        continue
      width = scaled_width(entry, self.width_multiplier)
      layers.append(functools.partial(conv, width, (3, 3), padding=1))
      layers += [norm, nn.relu] if self.batch_norm else [nn.relu]
    return tuple(layers)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    x = IndexedSequential(self.feature_layers(train), name='features')(x)
    x = AdaptiveAvgPool((1, 1) if self.small_input else (7, 7), name='avgpool')(x)
    x = flatten_channels_first(x)
    hidden = scaled_width(self.hidden, self.width_multiplier)
    dense = lambda features: functools.partial(nn.Dense, features, dtype=self.dtype,
                                               kernel_init=nn.initializers.normal(0.01))
    dropout = functools.partial(nn.Dropout, self.dropout, deterministic=not train)
    x = IndexedSequential((
        dense(hidden), nn.relu, dropout,
        dense(hidden), nn.relu, dropout,
        dense(self.num_classes)), name='classifier')(x)
    return x.astype(jnp.float32)
