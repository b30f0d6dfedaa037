"""The course's VGG-16-shaped encoder-decoder for segmentation, and a U-Net on a pretrained
MobileNetV2 encoder.

`VGGEncoderDecoder`: the zoo's VGG-16 conv body (13 3x3 convs, 5 max pools: stride 32,
`models.vgg.VGG` headless, its 'stage4' output) then 2x2 stride-2 transpose convolutions
back up, 512 -> 256 -> 128 -> 64 channels (ReLU after each), and a final 2x2 stride-2
transpose conv to `num_classes`: `[N, H, W, C] -> [N, H, W, num_classes]`, H and W
divisible by 32. No skip connections: the point of comparison for U-Net's.

`MobileNetUNet`: the zoo's MobileNetV2 (headless, `return_stages`: stem /2 16 ch, stage1 /4
24, stage2 /8 32, stage3 /16 96, stage4 /32 1280) as the contracting path; per level a 2x2
stride-2 transpose conv, the stage output of that stride concatenated, two 3x3 SAME
conv-BN-ReLU; a last transpose conv to full size and a 1x1 head. Its 'encoder' variables
are exactly a headless MobileNetV2's, so ImageNet weights drop in
(`with_encoder(variables, weights.load('mobilenet_v2', 'imagenet', include_head=False))`).
"""
from typing import Any, Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models.mobilenet import MobileNetV2
from cnn_jax.models.unet import ConvTranspose, DoubleConv
from cnn_jax.models.vgg import VGG
from cnn_jax.nn.conv import Conv


def _check_stride(height: int, width: int, stride: int, name: str) -> None:
  if height % stride or width % stride:
    raise ValueError(f'{name} needs H and W divisible by {stride}; got {height}x{width}. '
                     f'Nearest sizes: {height // stride * stride or stride} or '
                     f'{-(-height // stride) * stride} (H), {width // stride * stride or stride}'
                     f' or {-(-width // stride) * stride} (W).')


class VGGEncoderDecoder(nn.Module):
  """`[N, H, W, C] -> [N, H, W, num_classes]` (module doc).

  Attributes: num_classes; decoder: the transpose convs' widths before the last one;
  batch_norm: in the VGG body (vgg16_bn); conv_impl; dtype.
  """
  num_classes: int = 2
  decoder: Sequence[int] = (512, 256, 128, 64)
  batch_norm: bool = False
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check_stride(x.shape[1], x.shape[2], 32, 'The VGG-16 encoder-decoder')
    encoder = VGG(depth=16, batch_norm=self.batch_norm, num_classes=None, hidden=None,
                  conv_impl=self.conv_impl, dtype=self.dtype, name='encoder')
    _, stages = encoder(x, train=train, return_stages=True)
    x = stages['stage4']
    for i, width in enumerate(self.decoder):
      x = nn.relu(ConvTranspose(width, impl=self.conv_impl, dtype=self.dtype, name=f'up{i}')(x))
    return ConvTranspose(self.num_classes, impl=self.conv_impl, dtype=self.dtype,
                         name='head')(x)


class MobileNetUNet(nn.Module):
  """`[N, H, W, 3] -> [N, H, W, num_classes]` on a MobileNetV2 encoder (module doc).

  Attributes: num_classes; decoder: widths at strides 16, 8, 4, 2 and 1; conv_impl; dtype.
  """
  num_classes: int = 2
  decoder: Sequence[int] = (96, 32, 24, 16, 16)
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    _check_stride(x.shape[1], x.shape[2], 32, 'The MobileNetV2 U-Net')
    encoder = MobileNetV2(num_classes=None, conv_impl=self.conv_impl, dtype=self.dtype,
                          name='encoder')
    _, stages = encoder(x, train=train, return_stages=True)
    y = stages['stage4']
    skips = (stages['stage3'], stages['stage2'], stages['stage1'], stages['stem'], None)
    for i, (width, skip) in enumerate(zip(self.decoder, skips)):
      y = ConvTranspose(width, impl=self.conv_impl, dtype=self.dtype, name=f'upconv{i}')(y)
      if skip is not None:
        y = jnp.concatenate([skip.astype(y.dtype), y], -1)
      y = DoubleConv(width, padding='SAME', batch_norm=True, conv_impl=self.conv_impl,
                     dtype=self.dtype, name=f'up{i}')(y, train)
    return Conv(self.num_classes, (1, 1), impl=self.conv_impl, dtype=self.dtype,
                name='head')(y)


def with_encoder(variables: dict, encoder_variables: dict) -> dict:
  """`variables` of a model whose 'encoder' submodule is a headless backbone, with that
  subtree replaced by `encoder_variables` (e.g. ImageNet MobileNetV2 weights) in every
  collection. Shapes must match exactly (ValueError naming the first mismatch)."""
  out = flax.core.unfreeze(variables)
  for collection, tree in flax.core.unfreeze(encoder_variables).items():
    mine = out.get(collection, {}).get('encoder')
    if mine is None:
      raise ValueError(f'The model has no {collection}/encoder to load into.')
    want = jax.tree_util.tree_structure(mine)
    if jax.tree_util.tree_structure(tree) != want:
      raise ValueError(f'{collection}/encoder: the loaded tree differs from the model\'s.')
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(tree)):
      if a.shape != b.shape:
        raise ValueError(f'{collection}/encoder: shape {b.shape} loaded for {a.shape}.')
    out[collection]['encoder'] = tree
  return out
