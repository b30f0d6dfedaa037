"""LeNet-5 as the course draws it.

    INPUT 32x32xC -> CONV1 5x5 valid (6) -> POOL1 2x2/2 -> CONV2 5x5 valid (16) -> POOL2 2x2/2
      -> FC3 120 -> FC4 84 -> Softmax (classes)

Each layer is a named submodule so `models.summarize` prints the course's table and
`models.features` returns activations by these names. The output holds logits: the softmax
itself is applied by the loss (numerically stable log-softmax), not by the module.

Headless (`num_classes=None`): no 'Softmax' layer; the output is FC4's activation [N, 84].
`return_stages=True` adds the activations after each course layer (the backbone contract of
`models.backbone`): 'conv1' (act(CONV1), stride 1), 'pool1' (2), 'conv2' (2), 'pool2' (4),
'fc3' and 'pre_logits' (act(FC4), what 'Softmax' takes).

The convs are `nn.conv.Conv` (same 'kernel'/'bias' parameters as `flax.linen.Conv`), so
`conv_impl` picks the formulation as in every zoo model ('auto' by default); 'xla'
computes exactly what `flax.linen.Conv` does.
"""
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.models.backbone import check_num_classes, finish
from cnn_jax.nn.conv import Conv
from cnn_jax.nn.pooling import AvgPool, MaxPool

_ACTIVATIONS = {'relu': nn.relu, 'tanh': nn.tanh, 'sigmoid': nn.sigmoid}
_POOLS = {'max': MaxPool, 'avg': AvgPool}


class LeNet5(nn.Module):
  """LeNet-5: `[N, H, W, C] -> [N, num_classes]` logits (H, W >= 32 for 5x5/2/5x5/2 to fit).

  Attributes:
    num_classes: size of the output layer; None = headless (module doc).
    filters: channels of CONV1 and CONV2, (6, 16) in the course.
    hidden: widths of FC3 and FC4, (120, 84) in the course.
    activation: 'relu', 'tanh' or 'sigmoid', after every conv and hidden FC.
    pooling: 'max' or 'avg' (LeNet-5's original subsampling is average pooling).
    conv_impl: `nn.conv.Conv` formulation of CONV1 and CONV2; 'auto' (the autotuner, as in
      every zoo model). On the 2-core AVX2 machine it picks 'toeplitz' for CONV1's forward
      and CONV2's input gradient and lax.conv for the rest: the b256 train step takes 22.6 ms
      against 31.2 for 'xla' everywhere (`benchmarks/side_by_side.py --impls default xla`,
      interleaved; docs/conv_bench.md).
    dtype: compute dtype of the convs and FCs (parameters stay float32; logits are float32).
  """
  num_classes: int | None = 10
  filters: tuple[int, int] = (6, 16)
  hidden: tuple[int, int] = (120, 84)
  activation: Literal['relu', 'tanh', 'sigmoid'] = 'relu'
  pooling: Literal['max', 'avg'] = 'max'
  conv_impl: str = 'auto'
  dtype: Any = jnp.float32

  def stage_strides(self) -> dict[str, int]:
    """{stage name: stride} of the `return_stages` dict (pre_logits and fc3 excluded)."""
    return {'conv1': 1, 'pool1': 2, 'conv2': 2, 'pool2': 4}

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False, return_stages: bool = False):
    """`[N, H, W, C]` -> logits `[N, num_classes]` (FC4's activation when headless); with
    `return_stages`, `(that, {name: activation})` (module doc)."""
    del train  # no dropout or batch norm in LeNet-5
    check_num_classes(self.num_classes)
    if self.activation not in _ACTIVATIONS:
      raise ValueError(f'Unknown activation {self.activation!r}; choose one of {sorted(_ACTIVATIONS)}.')
    if self.pooling not in _POOLS:
      raise ValueError(f'Unknown pooling {self.pooling!r}; choose one of {sorted(_POOLS)}.')
    act, pool = _ACTIVATIONS[self.activation], _POOLS[self.pooling]
    conv = lambda features, name: Conv(features, (5, 5), padding='VALID', impl=self.conv_impl,
                                       dtype=self.dtype, name=name)
    stages = {}
    x = stages['conv1'] = act(conv(self.filters[0], 'CONV1')(x))
    x = stages['pool1'] = pool((2, 2), name='POOL1')(x)
    x = stages['conv2'] = act(conv(self.filters[1], 'CONV2')(x))
    x = stages['pool2'] = pool((2, 2), name='POOL2')(x)
    x = x.reshape(x.shape[0], -1)
    x = stages['fc3'] = act(nn.Dense(self.hidden[0], dtype=self.dtype, name='FC3')(x))
    x = stages['pre_logits'] = act(nn.Dense(self.hidden[1], dtype=self.dtype, name='FC4')(x))
    if self.num_classes is not None:
      x = nn.Dense(self.num_classes, dtype=self.dtype, name='Softmax')(x)
    return finish(x, stages, return_stages)
