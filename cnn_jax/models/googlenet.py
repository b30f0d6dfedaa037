"""GoogLeNet / Inception v1 (Szegedy et al. 2014), as torchvision's `GoogLeNet`.

    INPUT 224x224x3
    conv1 7x7/2 (64) -> maxpool1 3x3/2 -> conv2 1x1 (64) -> conv3 3x3 (192) -> maxpool2 3x3/2
                                                                          112 -> 56 -> 28
    inception3a (64, 96->128, 16->32, 32)  -> 256     inception3b (128, 128->192, 32->96, 64) -> 480
    maxpool3 3x3/2                                                                     -> 14
    inception4a (192, 96->208, 16->48, 64) -> 512     [aux1 on its output, training only]
    inception4b (160, 112->224, 24->64, 64) -> 512    4c (128, 128->256, 24->64, 64) -> 512
    inception4d (112, 144->288, 32->64, 64) -> 528    [aux2 on its output, training only]
    inception4e (256, 160->320, 32->128, 128) -> 832
    maxpool4 2x2/2                                                                      -> 7
    inception5a (256, 160->320, 32->128, 128) -> 832  5b (384, 192->384, 48->128, 128) -> 1024
    avgpool (global) -> dropout 0.2 -> fc num_classes

Each conv is conv -> BN (eps 1e-3, torchvision's; PyTorch momentum 0.1 = Flax 0.9) -> ReLU;
inception blocks are `nn.inception.Inception` (branch (a, b->c, d->e, f): 1x1 a; 1x1 b then
3x3 c; 1x1 d then kxk e; 3x3 max pool then 1x1 f). Pools use PyTorch's ceil_mode. 6,624,904
parameters without the auxiliary heads at 1000 classes (13,004,888 with them). Names are
torchvision's: 'inception4a.branch2.1.conv.weight' is
params['inception4a']['branch2']['1']['conv']['kernel'].

The auxiliary heads (`aux_logits=True`, `nn.inception.InceptionAux`) run in training as in
torchvision; `__call__(..., return_aux=True)` returns (logits, aux2, aux1) then (torchvision's
order), to be weighted 0.3 each in the loss as in the paper. Their outputs are also the
layers 'aux1', 'aux2' for `models.features`.

Headless (`num_classes=None`, no aux heads): no dropout and fc; the output is the pooled
[N, 1024]. `return_stages=True` adds, by the zoo's rule (the last activation at each stride):
'stem' conv1 (stride 2), 'stage1' conv3 (4), 'stage2' inception3b (8), 'stage3' inception4e
(16), 'stage4' inception5b (32), and 'pre_logits' (the pooled [N, 1024]).

`small_input=True` (32x32): conv1 stride 1 and no maxpool1, so the inception stages run at
16, 8 and 4 cells instead of 2, 1 and 1. `transform_input=True` maps ImageNet-normalised
input to the [-1, 1] scaling of the original weights (torchvision's flag, set with its weights).
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models import backbone
from cnn_jax.models.backbone import check_num_classes, finish
from cnn_jax.nn.blocks import conv_factory, norm_factory, scaled_width
from cnn_jax.nn.inception import Inception, InceptionAux, basic_conv
from cnn_jax.nn.pooling import GlobalAvgPool, MaxPool
from cnn_jax.ops.normalize import IMAGENET_MEAN, IMAGENET_STD

# torchvision's Inception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj), without `in`.
BLOCKS = {
    'inception3a': (64, 96, 128, 16, 32, 32), 'inception3b': (128, 128, 192, 32, 96, 64),
    'inception4a': (192, 96, 208, 16, 48, 64), 'inception4b': (160, 112, 224, 24, 64, 64),
    'inception4c': (128, 128, 256, 24, 64, 64), 'inception4d': (112, 144, 288, 32, 64, 64),
    'inception4e': (256, 160, 320, 32, 128, 128), 'inception5a': (256, 160, 320, 32, 128, 128),
    'inception5b': (384, 192, 384, 48, 128, 128),
}
# The last inception block at strides 8, 16, 32 (the zoo's stage rule, `models.backbone`).
_STAGE_ENDS = {'inception3b': 'stage2', 'inception4e': 'stage3', 'inception5b': 'stage4'}


class GoogLeNet(nn.Module):
  """GoogLeNet: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 15; >= 4 if small_input).

  Attributes:
    num_classes: None = headless (module doc). aux_logits: build the two auxiliary heads
      (train-time only; they need num_classes).
    dropout: before fc (0.2); aux_dropout: in the aux heads (0.7).
    branch3_kernel: 3 (torchvision's weights) or 5 (the paper), see `nn.inception`.
    width_multiplier: scales every conv and the aux widths (1.0 = torchvision).
    small_input: the 32x32 variant (module doc). transform_input: torchvision's flag.
    bn_epsilon: 1e-3 as torchvision. conv_impl: `nn.conv.Conv` formulation ('auto'). dtype: compute
    dtype (logits are float32).
  """
  num_classes: int | None = 1000
  aux_logits: bool = False
  dropout: float = 0.2
  aux_dropout: float = 0.7
  branch3_kernel: int = 3
  width_multiplier: float = 1.0
  small_input: bool = False
  transform_input: bool = False
  bn_epsilon: float = 1e-3
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    return backbone.stage_strides(2 if self.small_input else 0)  # small: conv1 /1, no maxpool1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_aux: bool = False,
               return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (features when headless), `(logits, aux2,
    aux1)` with `return_aux`; with `return_stages`, `(that, {name: activation})`."""
    check_num_classes(self.num_classes)
    if self.num_classes is None and self.aux_logits:
      raise ValueError('A headless GoogLeNet (num_classes=None) has no auxiliary classifiers: '
                       'set aux_logits=False.')
    if self.transform_input:  # (x * std + mean - 0.5) / 0.5 per RGB channel
      std, mean = jnp.asarray(IMAGENET_STD), jnp.asarray(IMAGENET_MEAN)
      x = x * (std / 0.5) + (mean - 0.5) / 0.5
    init = nn.initializers.truncated_normal(0.01)  # torchvision: trunc_normal_(std=0.01)
    conv = conv_factory(self.conv_impl, self.dtype, kernel_init=init)
    norm = norm_factory(train, epsilon=self.bn_epsilon, dtype=self.dtype)
    w = functools.partial(scaled_width, multiplier=self.width_multiplier)
    basic = functools.partial(basic_conv, conv_layer=conv, norm_layer=norm)
    pool = functools.partial(MaxPool, (3, 3), (2, 2), ceil_mode=True)

    x = basic(w(64), 7, strides=1 if self.small_input else 2, padding=3)(name='conv1')(x)
    stages = {'stem': x}
    if not self.small_input:
      x = pool(name='maxpool1')(x)
    x = basic(w(64), 1)(name='conv2')(x)
    x = stages['stage1'] = basic(w(192), 3)(name='conv3')(x)
    x = pool(name='maxpool2')(x)

    aux_heads = self.aux_logits and (train or self.is_initializing())
    aux = functools.partial(InceptionAux, self.num_classes, train=train, dropout=self.aux_dropout,
                            width_multiplier=self.width_multiplier, conv_layer=conv,
                            norm_layer=norm, dense_init=init, dtype=self.dtype)
    aux1 = aux2 = None
    for name, channels in BLOCKS.items():
      if name == 'inception4a':
        x = pool(name='maxpool3')(x)
      elif name == 'inception5a':
        x = MaxPool((2, 2), (2, 2), ceil_mode=True, name='maxpool4')(x)
      x = Inception(*map(w, channels), branch3_kernel=self.branch3_kernel, conv_layer=conv,
                    norm_layer=norm, name=name)(x)
      if name in _STAGE_ENDS:
        stages[_STAGE_ENDS[name]] = x
      if aux_heads and name == 'inception4a':
        aux1 = aux(name='aux1')(x).astype(jnp.float32)
      elif aux_heads and name == 'inception4d':
        aux2 = aux(name='aux2')(x).astype(jnp.float32)

    x = stages['pre_logits'] = GlobalAvgPool(name='avgpool')(x)
    if self.num_classes is None:
      return finish(x, stages, return_stages)
    x = nn.Dropout(self.dropout, deterministic=not train, name='dropout')(x)
    x = nn.Dense(self.num_classes, kernel_init=init, dtype=self.dtype, name='fc')(x)
    logits = x.astype(jnp.float32)
    out = (logits, aux2, aux1) if return_aux else logits
    return (out, stages) if return_stages else out
