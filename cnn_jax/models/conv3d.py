"""A 3-D convnet for volumes [N, D, H, W, C] (course §1.10, "1-D and 3-D generalisations").

A 3-D convolution slides an f x f x f x C_in filter through the volume: per spatial axis
n_out = floor((n + 2p - f) / s) + 1, and a layer has f^3 * C_in * C_out + C_out parameters
(the course's CT-scan and video examples). Layout NDHWC, kernels DHWIO (flax's N-D `nn.Conv`).

    INPUT D x H x W x C -> [CONV 3x3x3 'SAME' (w_i) -> BN -> ReLU -> POOL 2x2x2/2] x stages
      -> global average over D, H, W -> FC classes

`models.summarize(Conv3DNet(), (16, 16, 16, 1))` prints its table (docs/conv1d3d.md).
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models.conv1d import check_rank
from cnn_jax.nn.pooling import GlobalAvgPool, MaxPool


class Conv3DNet(nn.Module):
  """Volumes [N, D, H, W, C] -> logits [N, num_classes]. widths: channels per stage;
  kernel: the side f of every f x f x f conv (each stage ends with 2x2x2 max pooling)."""
  num_classes: int = 10
  widths: Sequence[int] = (16, 32, 64)
  kernel: int = 3
  # PyTorch's BatchNorm momentum 0.1 = flax 0.9: flax's default 0.99 left the running
  # statistics far behind the batch statistics after a few hundred steps (eval accuracy
  # 24% vs 54% with batch statistics on the same training volumes, measured)
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32  # compute dtype (parameters, statistics and logits float32)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    check_rank(x, 3, 'Conv3DNet', '[N, D, H, W, C]')
    for i, width in enumerate(self.widths):
      x = nn.Conv(width, (self.kernel,) * 3, padding='SAME', use_bias=False, dtype=self.dtype,
                  name=f'conv{i + 1}')(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                       dtype=self.dtype, name=f'bn{i + 1}')(x)
      x = nn.relu(x)
      x = MaxPool((2, 2, 2), name=f'pool{i + 1}')(x)
    x = GlobalAvgPool(name='gap')(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name='fc')(x).astype(jnp.float32)
