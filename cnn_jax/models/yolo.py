"""YOLOv2-style detector: a backbone's feature map -> S_h x S_w x A x (5 + C) raw outputs (course §3).

    net = YOLO(num_classes=10, num_anchors=5)                       # small Darknet-style backbone
    net = YOLO(num_classes=10, num_anchors=5, backbone='mobilenet_v2', feature='stage3')
    raw = net.apply(variables, images, train=False)                 # [N, S_h, S_w, A, 5 + C]

`ops.yolo` decodes the raw outputs and `losses.yolo` trains them. The grid stride is the
backbone's: `net.stride()` (2^len(widths) for the small backbone; `stage_strides()[feature]`
for a zoo backbone, e.g. 16 for MobileNetV2's 'stage3').

Backbones: '' builds `DarknetSmall` (per stage a 3x3 conv-BN-leaky ReLU(0.1), then a 2x2 max
pool, as Tiny-YOLO); any registry name builds that model headless (`num_classes=None`) and
takes its `feature` stage (`return_stages`), so pretrained ImageNet variables load under
'backbone' (tasks/yolo.py). The head is YOLOv2's: a 3x3 conv-BN-leaky of `head_width` and a
1x1 conv with bias to A (5 + C) channels.
"""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax import models
from cnn_jax.nn.blocks import ConvBNAct, conv_factory, norm_factory

leaky = functools.partial(nn.leaky_relu, negative_slope=0.1)


class DarknetSmall(nn.Module):
  """`[N, H, W, C] -> [N, H / 2^S, W / 2^S, widths[-1]]`: S stages of 3x3 conv-BN-leaky + pool."""
  widths: tuple[int, ...] = (16, 32, 64, 128)
  conv_impl: str = 'auto'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    conv, norm = conv_factory(self.conv_impl), norm_factory(train)
    for i, w in enumerate(self.widths):
      x = ConvBNAct(w, 3, activation=leaky, conv_layer=conv, norm_layer=norm, name=f'stage{i + 1}')(x)
      x = nn.max_pool(x, (2, 2), (2, 2))
    return x


class YOLO(nn.Module):
  """Backbone + YOLOv2 head (module docstring).

  Attributes:
    num_classes: C. num_anchors: A. backbone: '' or a registry name. feature: the zoo
    backbone's stage to detect on. widths: DarknetSmall's stages. head_width: the head's 3x3
    conv width. conv_impl: the convolution formulation (ops.conv.IMPLS).
  """
  num_classes: int
  num_anchors: int = 5
  backbone: str = ''
  feature: str = 'stage3'
  widths: tuple[int, ...] = (16, 32, 64, 128)
  head_width: int = 128
  conv_impl: str = 'auto'

  def stride(self) -> int:
    """Input pixels per grid cell."""
    if not self.backbone:
      return 2 ** len(self.widths)
    # parent=None: a free-standing copy, not a child of this (possibly unbound) module.
    strides = models.create(self.backbone, num_classes=None, parent=None).stage_strides()
    if self.feature not in strides:
      raise ValueError(f'Backbone {self.backbone!r} has no stage {self.feature!r}; choose one '
                       f'of {sorted(strides)} (config.model.feature).')
    return strides[self.feature]

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.backbone:
      # models.create's first argument is called `name`: make the module, then name it.
      net = models.create(self.backbone, num_classes=None, parent=None).clone(
          parent=self, name='backbone')
      _, stages = net(x, train=train, return_stages=True)
      if self.feature not in stages:
        raise ValueError(f'Backbone {self.backbone!r} has no stage {self.feature!r}; choose '
                         f'one of {sorted(k for k in stages if k != "pre_logits")} '
                         '(config.model.feature).')
      f = stages[self.feature]
    else:
      f = DarknetSmall(self.widths, self.conv_impl, name='backbone')(x, train)
    f = ConvBNAct(self.head_width, 3, activation=leaky, conv_layer=conv_factory(self.conv_impl),
                  norm_layer=norm_factory(train), name='head')(f)
    out = nn.Conv(self.num_anchors * (5 + self.num_classes), (1, 1), name='predict',
                  kernel_init=nn.initializers.normal(0.01))(f)
    n, h, w, _ = out.shape
    return out.reshape(n, h, w, self.num_anchors, 5 + self.num_classes)
