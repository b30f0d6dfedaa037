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

Headless (`num_classes=None`): no classifier.5/6 (the dropout and FC before the logits); the
output is the 4096-wide relu(classifier.3) [N, hidden], or with `hidden=None` (no hidden FCs:
the conv-only net that style transfer loads) the flattened avgpool. `return_stages=True` adds:

    'conv1_1'..'conv5_4'   ReLU output of every conv, block b conv i (stride 2^(b-1))
    'stem'    relu(conv2_last)   stride 2     'stage1'  relu(conv3_last)  stride 4
    'stage2'  relu(conv4_last)   stride 8     'stage3'  relu(conv5_last)  stride 16
    'stage4'  the fifth max pool stride 32    'pre_logits'  what the last FC takes

(the last activation at each stride, the zoo's rule; SSD's conv4_3 is 'stage2' of VGG-16).

`small_input=True` (32x32, CIFAR-style): the same 13 convs and 5 pools bring 32x32 to 1x1,
the adaptive pool is 1x1, so the classifier takes 512 features instead of 49 copies of them.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models.backbone import check_num_classes, finish, run_sequential
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
    num_classes: None = headless (module doc). dropout: rate after FC 0 and FC 3 (train only).
    hidden: FC width (4096); None = no hidden FCs (conv body, pool, [head]).
    width_multiplier: scales every conv and hidden width (1.0 = torchvision).
    small_input: the 32x32 variant (module doc). conv_impl: `nn.conv.Conv` formulation ('auto').
    dtype: compute dtype (logits are float32).
  """
  depth: int = 16
  batch_norm: bool = False
  num_classes: int | None = 1000
  dropout: float = 0.5
  hidden: int | None = 4096
  width_multiplier: float = 1.0
  small_input: bool = False
  conv_impl: str = 'auto'
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

  def feature_names(self) -> dict[int, str]:
    """{index in torchvision's `features`: name} of the ReLU after each conv ('conv1_1', ...)
    and of the last pool ('stage4')."""
    step = 3 if self.batch_norm else 2  # conv, [BN,] ReLU
    names, index, block, conv = {}, 0, 1, 0
    for entry in CONFIGS[DEPTHS[self.depth]]:
      if entry == 'M':
        index, block, conv = index + 1, block + 1, 0
        continue
      index, conv = index + step, conv + 1
      names[index - 1] = f'conv{block}_{conv}'
    names[index - 1] = 'stage4'
    return names

  def _aliases(self) -> dict[str, str]:
    """'stem', 'stage1'..'stage3' -> the last conv of blocks 2..5 (the last activation at
    strides 2..16, the zoo's rule)."""
    last = {}
    for name in self.feature_names().values():
      if name.startswith('conv'):
        last[int(name[4])] = name
    return {('stem' if b == 2 else f'stage{b - 2}'): last[b] for b in (2, 3, 4, 5)}

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits excluded)."""
    out = {n: 2 ** (int(n[4]) - 1) for n in self.feature_names().values() if n != 'stage4'}
    out.update({alias: out[conv] for alias, conv in self._aliases().items()}, stage4=32)
    return out

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (features when headless, module doc);
    with `return_stages`, `(that, {name: activation})`."""
    check_num_classes(self.num_classes)
    x, stages = run_sequential(IndexedSequential(self.feature_layers(train), name='features'),
                               x, self.feature_names(), return_stages)
    if return_stages:
      stages.update({alias: stages[conv] for alias, conv in self._aliases().items()})
    x = AdaptiveAvgPool((1, 1) if self.small_input else (7, 7), name='avgpool')(x)
    x = pre_logits = flatten_channels_first(x)
    dense = lambda features: functools.partial(nn.Dense, features, dtype=self.dtype,
                                               kernel_init=nn.initializers.normal(0.01))
    dropout = functools.partial(nn.Dropout, self.dropout, deterministic=not train)
    body = ()
    if self.hidden is not None:
      hidden = scaled_width(self.hidden, self.width_multiplier)
      body = (dense(hidden), nn.relu, dropout, dense(hidden), nn.relu)
    # The head, torchvision's classifier.5 (dropout) and classifier.6.
    head = () if self.num_classes is None else (dropout, dense(self.num_classes))
    if body or head:
      x, taken = run_sequential(IndexedSequential(body + head, name='classifier'), x,
                                {len(body) - 1: 'pre_logits'} if body else {}, return_stages)
      pre_logits = taken.get('pre_logits', pre_logits)
    stages['pre_logits'] = pre_logits
    return finish(x, stages, return_stages)
