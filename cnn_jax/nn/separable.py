"""MobileNet v1's depthwise separable convolution, named as Keras' `MobileNet` layers.

A standard kxk conv from C to C' channels costs k*k*C*C' multiplications per output cell;
the separable version splits it into a depthwise kxk conv (one filter per channel, k*k*C)
and a pointwise 1x1 conv (C*C'): a cost ratio of 1/C' + 1/k^2 (about 1/8 to 1/9 for 3x3).

    conv_dw (3x3/s, groups=C, no bias) -> conv_dw_bn -> ReLU6
      -> conv_pw (1x1, no bias)        -> conv_pw_bn -> ReLU6

Keras names the layers of block i `conv_dw_i`, `conv_dw_i_bn`, `conv_pw_i`, `conv_pw_i_bn`;
here block i is the module `block_i` with children 'conv_dw', 'conv_dw_bn', 'conv_pw',
'conv_pw_bn' (Keras' depthwise kernel [3, 3, C, 1] is this kernel [3, 3, 1, C] transposed).
Stride-2 blocks pad (0, 1) on each spatial dim as Keras' ZeroPadding2D + 'valid' does.
"""
import flax.linen as nn
import jax

from cnn_jax.nn.batch_norm import BatchNorm, norm_act
from cnn_jax.nn.blocks import ModuleDef
from cnn_jax.nn.conv import Conv


def keras_padding(strides: int):
  """Keras MobileNet's padding for a 3x3 conv: 'same' (1 each side) at stride 1, else (0, 1)."""
  return 1 if strides == 1 else ((0, 1), (0, 1))


class DepthwiseSeparable(nn.Module):
  """`[N, H, W, C] -> [N, ceil(H/s), ceil(W/s), features]` (see the module doc).

  Attributes: features (C'), strides (s of the depthwise conv), conv/norm factories.
  """
  features: int
  strides: int = 1
  conv_layer: ModuleDef = Conv
  norm_layer: ModuleDef = BatchNorm

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    channels = x.shape[-1]
    x = self.conv_layer(channels, (3, 3), strides=self.strides, padding=keras_padding(self.strides),
                        feature_group_count=channels, name='conv_dw')(x)
    x = norm_act(self.norm_layer, x, nn.relu6, name='conv_dw_bn')
    x = self.conv_layer(self.features, (1, 1), padding=0, name='conv_pw')(x)
    return norm_act(self.norm_layer, x, nn.relu6, name='conv_pw_bn')
