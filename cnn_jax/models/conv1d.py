"""A 1-D convnet for signals and sequences [N, L, C] (course §1.10, "1-D and 3-D
generalisations").

A 1-D convolution slides an f-tap filter along one axis: with input length n, padding p and
stride s the output has floor((n + 2p - f) / s) + 1 positions, each a dot product over
f x C_in values; a layer has f * C_in * C_out + C_out parameters (the 2-D formulas with one
spatial axis). Layout NLC, kernels LIO (flax's N-D `nn.Conv` with a 1-tuple kernel).

    INPUT L x C -> [CONV f, p = f // 2 (w_i) -> BN -> ReLU -> POOL 2/2] x stages
      -> global average over L -> FC classes

The default reads sequential MNIST (784 pixels in raster order, one channel; the TCN
benchmark of Bai et al. 2018): the first layer uses stride `stem_stride` so that 784 steps
cost little, then every stage halves the length. `models.summarize(Conv1DNet(), (784, 1))`
prints its table (docs/conv1d3d.md).
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.nn.pooling import GlobalAvgPool, MaxPool


def check_rank(x: jax.Array, spatial: int, name: str, layout: str) -> None:
  """ValueError naming the layout when `x` is not [N, *spatial dims, C]."""
  if x.ndim != spatial + 2:
    raise ValueError(f'{name} takes {layout} inputs of rank {spatial + 2}; got shape '
                     f'{tuple(x.shape)} (rank {x.ndim}). Use the model of matching rank '
                     '(conv1d for [N, L, C], lenet5/resnet... for [N, H, W, C], conv3d for '
                     '[N, D, H, W, C]) or reshape the data.')


class Conv1DNet(nn.Module):
  """Sequences [N, L, C] -> logits [N, num_classes].

  widths: channels of each stage's conv; kernel: taps f of every conv; stem_stride: stride of
  the first conv (the others have stride 1; each stage ends with max pooling 2/2)."""
  num_classes: int = 10
  widths: Sequence[int] = (32, 64, 128)
  kernel: int = 7
  stem_stride: int = 4
  # PyTorch's BatchNorm momentum 0.1 = flax 0.9: flax's default 0.99 left the running
  # statistics far behind the batch statistics after a few hundred steps (eval accuracy
  # 24% vs 54% with batch statistics on the same training volumes, measured)
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32  # compute dtype (parameters, statistics and logits float32)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    check_rank(x, 1, 'Conv1DNet', '[N, L, C]')
    for i, width in enumerate(self.widths):
      stride = self.stem_stride if i == 0 else 1
      # symmetric p = f // 2 (the course's formula; 'SAME' would pad unevenly under stride)
      pad = self.kernel // 2
      x = nn.Conv(width, (self.kernel,), strides=(stride,), padding=[(pad, pad)], use_bias=False,
                  dtype=self.dtype, name=f'conv{i + 1}')(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                       dtype=self.dtype, name=f'bn{i + 1}')(x)
      x = nn.relu(x)
      x = MaxPool((2,), name=f'pool{i + 1}')(x)
    x = GlobalAvgPool(name='gap')(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, name='fc')(x).astype(jnp.float32)
