"""AlexNet, torchvision's single-tower variant (Krizhevsky 2014 "one weird trick").

    INPUT 224x224x3
    features: 0 CONV 11x11/4 p2 (64) ReLU, 2 MAXPOOL 3x3/2   -> 55x55x64 -> 27x27x64
              3 CONV 5x5 p2 (192)   ReLU, 5 MAXPOOL 3x3/2    -> 27x27x192 -> 13x13x192
              6 CONV 3x3 p1 (384) ReLU, 8 CONV 3x3 p1 (256) ReLU, 10 CONV 3x3 p1 (256) ReLU
              12 MAXPOOL 3x3/2                                -> 13x13x256 -> 6x6x256
    avgpool:  adaptive average pool to 6x6 (the identity at 224x224)
    classifier: 0 Dropout, 1 FC 4096 ReLU, 3 Dropout, 4 FC 4096 ReLU, 6 FC num_classes

61,100,840 parameters at 1000 classes. Flax paths equal torchvision's state-dict keys split
on '.' (see `nn.sequential`); the flatten before the classifier is in PyTorch's (C, H, W)
order, so torchvision's Linear weights map on by a transpose alone.

Headless (`num_classes=None`): no classifier.6; the output is relu(classifier.4) [N, 4096].
`return_stages=True` adds 'conv1'..'conv5' (ReLU outputs) and, by the zoo's rule (the last
activation at each stride; AlexNet has no stride-2 level, so no 'stem'):

    'stage1' = 'conv1' (stride 4)   'stage2' = 'conv2' (8)   'stage3' = 'conv5' (16)
    'stage4' = the third max pool (32)   'pre_logits' = what classifier.6 takes

`small_input=True` (32x32 images): the first conv becomes 3x3/1 p1 and the adaptive pool
1x1, keeping the five-conv, three-pool body (32 -> 15 -> 7 -> 3) and a 256-wide classifier
input instead of replicating one cell 36 times.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models import backbone
from cnn_jax.models.backbone import check_num_classes, finish, run_sequential
from cnn_jax.nn.blocks import conv_factory, scaled_width
from cnn_jax.nn.flatten import flatten_channels_first
from cnn_jax.nn.pooling import AdaptiveAvgPool, MaxPool
from cnn_jax.nn.sequential import IndexedSequential


class AlexNet(nn.Module):
  """AlexNet: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 63, or >= 15 if small_input).

  Attributes:
    num_classes: output classes; None = headless (module doc).
    dropout: rate before FC 1 and FC 4 (train only).
    width_multiplier: scales every conv and hidden FC width (1.0 = torchvision).
    small_input: the 32x32 variant (see the module doc).
    conv_impl: `nn.conv.Conv` formulation ('auto'). dtype: compute dtype (logits are float32).
  """
  num_classes: int | None = 1000
  dropout: float = 0.5
  width_multiplier: float = 1.0
  small_input: bool = False
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    out = backbone.stage_strides(2 if self.small_input else 0,
                                 ('stage1', 'stage2', 'stage3', 'stage4'))
    return {'conv1': out['stage1'], 'conv2': out['stage2'], 'conv3': out['stage3'],
            'conv4': out['stage3'], 'conv5': out['stage3'], **out}

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (features when headless, module doc);
    with `return_stages`, `(that, {name: activation})`."""
    check_num_classes(self.num_classes)
    w = functools.partial(scaled_width, multiplier=self.width_multiplier)
    conv = conv_factory(self.conv_impl, self.dtype, nn.initializers.lecun_normal(), use_bias=True)
    conv3x3 = lambda features: functools.partial(conv, w(features), (3, 3), padding=1)
    pool = functools.partial(MaxPool, (3, 3), (2, 2))
    stem = (functools.partial(conv, w(64), (3, 3), strides=1, padding=1) if self.small_input
            else functools.partial(conv, w(64), (11, 11), strides=4, padding=2))
    x, stages = run_sequential(IndexedSequential((
        stem, nn.relu, pool,
        functools.partial(conv, w(192), (5, 5), padding=2), nn.relu, pool,
        conv3x3(384), nn.relu, conv3x3(256), nn.relu, conv3x3(256), nn.relu, pool),
        name='features'), x, {1: 'conv1', 4: 'conv2', 7: 'conv3', 9: 'conv4', 11: 'conv5',
                              12: 'stage4'}, return_stages)
    if return_stages:
      stages.update(stage1=stages['conv1'], stage2=stages['conv2'], stage3=stages['conv5'])
    x = AdaptiveAvgPool((1, 1) if self.small_input else (6, 6), name='avgpool')(x)
    x = flatten_channels_first(x)
    dense = lambda features: functools.partial(nn.Dense, features, dtype=self.dtype)
    dropout = functools.partial(nn.Dropout, self.dropout, deterministic=not train)
    body = (dropout, dense(w(4096)), nn.relu, dropout, dense(w(4096)), nn.relu)
    head = () if self.num_classes is None else (dense(self.num_classes),)  # classifier.6
    x, taken = run_sequential(IndexedSequential(body + head, name='classifier'), x,
                              {5: 'pre_logits'}, return_stages)
    stages.update(taken)
    return finish(x, stages, return_stages)
