"""`Conv`: a drop-in for `flax.linen.Conv` whose formulation is chosen by `impl`.

    Conv(64, (3, 3), strides=2, padding='SAME', impl='im2col')

Parameters are named and shaped as in Flax ('kernel' `[*k, C_in // groups, features]`,
'bias' `[features]`), so checkpoints and weight converters do not care which `impl` made them,
and a model's config can switch the formulation while the benchmarks compare whole models.
"""
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnn_jax.ops import conv as conv_ops
from cnn_jax.ops.padding import effective_size, explicit_padding

Initializer = Callable[..., jax.Array]


class Conv(nn.Module):
  """Convolution (cross-correlation) layer, channels-last, any spatial rank 1-3.

  Input `[*batch, *spatial, C_in]` (no batch dim, or several, are fine, as in Flax);
  output `[*batch, *out, features]` with n_out = floor((n + 2p - f) / s) + 1 per spatial dim.

  Attributes:
    features: C_out.
    kernel_size: f per spatial dim (an int means a 1-D conv, as in Flax).
    strides: s, int or one per spatial dim.
    padding: 'SAME' (default, as Flax), 'VALID', 'CIRCULAR', 'CAUSAL' (1-D), an int, or
      per-dim ints / (lo, hi) pairs.
    input_dilation, kernel_dilation: zeros between input cells / between kernel taps.
    feature_group_count: groups (C_in for depthwise).
    use_bias, kernel_init, bias_init, dtype, param_dtype: as in `flax.linen.Conv`.
    impl: the formulation, one of `cnn_jax.ops.conv.IMPLS`: 'auto' (the default: per pass the
      formulation timed fastest on this machine, `ops.conv_autotune`), 'xla'
      (lax.conv_general_dilated, `flax.linen.Conv`'s numbers), 'fast' (per pass a fixed rule),
      'im2col', 'taps' (per-tap matmuls, custom VJP), 'winograd' / 'winograd4' (3x3 stride 1),
      'direct'.
  """
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = 1
  padding: Any = 'SAME'
  input_dilation: int | Sequence[int] | None = 1
  kernel_dilation: int | Sequence[int] | None = 1
  feature_group_count: int = 1
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  bias_init: Initializer = nn.initializers.zeros_init()
  impl: str = 'auto'

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    if self.impl not in conv_ops.IMPLS:
      raise ValueError(f'Unknown conv impl {self.impl!r}; choose one of {list(conv_ops.IMPLS)}.')
    kernel_size = ((self.kernel_size,) if isinstance(self.kernel_size, int)
                   else tuple(self.kernel_size))
    rank = len(kernel_size)
    # Flatten all leading batch dims into one (or add one), as flax.linen.Conv does.
    batch_shape = inputs.shape[:inputs.ndim - rank - 1]
    x = inputs.reshape((-1,) + inputs.shape[len(batch_shape):])

    c_in = x.shape[-1]
    if c_in % self.feature_group_count:
      raise ValueError(f'Input channels {c_in} not divisible by feature_group_count='
                       f'{self.feature_group_count}.')
    kernel = self.param('kernel', self.kernel_init,
                        kernel_size + (c_in // self.feature_group_count, self.features),
                        self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)

    kernel_dilation = conv_ops.as_tuple(self.kernel_dilation, rank, 'kernel_dilation')
    padding = self.padding
    if isinstance(padding, str) and padding.upper() in ('CIRCULAR', 'CAUSAL'):
      eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, kernel_dilation)]
      if padding.upper() == 'CAUSAL':
        if rank != 1:
          raise ValueError('Causal padding is only implemented for 1-D convolutions.')
        pads = [(eff[0] - 1, 0)]
        x = jnp.pad(x, [(0, 0), *pads, (0, 0)])
      else:  # wrap around: same split as Flax, (f_eff - 1) // 2 before, f_eff // 2 after
        x = jnp.pad(x, [(0, 0), *(((e - 1) // 2, e // 2) for e in eff), (0, 0)], mode='wrap')
      padding = 'VALID'

    in_dilation = conv_ops.as_tuple(self.input_dilation, rank, 'input_dilation')
    sizes = [(n - 1) * i + 1 for n, i in zip(x.shape[1:-1], in_dilation)]
    strides = conv_ops.as_tuple(self.strides, rank, 'strides')
    pads = explicit_padding(padding, sizes, kernel_size, strides, kernel_dilation)
    window = [effective_size(f, d) for f, d in zip(kernel_size, kernel_dilation)]
    padded = [n + lo + hi for n, (lo, hi) in zip(sizes, pads)]
    if any(w > n for w, n in zip(window, padded)):  # say why, not just 'empty output'
      raise ValueError(f'the conv window is larger than its padded input ({tuple(window)} > '
                       f'{tuple(padded)}), so the output would be empty')
    y = conv_ops.conv(x, kernel, bias, strides=self.strides, padding=padding,
                      dilation=kernel_dilation, groups=self.feature_group_count,
                      input_dilation=self.input_dilation, impl=self.impl)
    return y.reshape(batch_shape + y.shape[1:]) if len(batch_shape) != 1 else y
