"""Sliding windows, naive and convolutional (course §3.1, OverFeat).

A small window classifier (the course's 14x14 example, scaled to 28x28 digits):

    28x28xC -conv 5x5 (16), ReLU-> 24x24 -maxpool 2/2-> 12x12 -conv 5x5 (32), ReLU-> 8x8
      -maxpool 2/2-> 4x4x32 -flatten-> FC 128, ReLU -> FC K (logits; K = 10 digits + background)

(a) naive: crop every window at stride s and classify each crop (`naive_scores`);
(b) convolutional: the same weights with the FC layers turned into convolutions
    (`fc_to_conv`): FC1 becomes a 4x4 VALID conv over the 4x4x32 map, FC2 a 1x1 conv. On an
    H x W image one forward pass gives the [H', W', K] map of every window's logits, windows
    s = 2 * 2 = 4 px apart (the product of the pool strides), with

        H' = (H - 28) // 4 + 1    (= the naive grid; `grid_size`)

(b) equals (a) window by window when every layer before the FCs is VALID: window (i, j) of
the map sees exactly the pixels of crop [4i, 4i + 28) x [4j, 4j + 28). With SAME padding it
does not: a crop's border convolutions see zero padding where the whole-image convolution
sees the real neighbouring pixels (and, deeper, the relu(bias) activations that surround a
window even on a black background), so windows differ. Measured (tests/test_sliding_window.py,
8/16-channel convs, random weights and biases, a random 44x52 image): every one of the 5x7
windows differs, by 0.10-0.26 in max |logit gap| for logits up to ~0.8; VALID on the same
sizes agrees to < 1e-6 (bit-identical for the trained model in tasks/sliding_window.py).
`padding='SAME'` exists to show this.

Flatten order: Flax flattens an NHWC map row by row, (h, w, c), so FC1's kernel rows reshape
to an HWIO kernel directly; a kernel trained after an NCHW flatten (PyTorch, Caffe) has rows in
(c, h, w) order and must be reshaped to (C, H, W, O) and transposed to (H, W, C, O) first
(`dense_to_conv(..., flatten='chw')`).
"""
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class WindowClassifier(nn.Module):
  """`[N, window, window, C] -> [N, K]` logits, or with `convolutional=True`
  `[N, H, W, C] -> [N, H', W', K]` (one logit vector per window, stride `stride`).

  Attributes: num_classes K; features: conv widths (each conv 5x5 + ReLU + 2x2/2 max pool);
  hidden: FC1 width; padding of the convs ('VALID' for exact equivalence); window: the input
  side the FC head was built for; convolutional: FC layers as convolutions (`fc_to_conv`).
  """
  num_classes: int = 11
  features: tuple[int, ...] = (16, 32)
  hidden: int = 128
  padding: Literal['VALID', 'SAME'] = 'VALID'
  window: int = 28
  convolutional: bool = False

  @property
  def stride(self) -> int:
    """Distance in pixels between neighbouring windows of the convolutional output."""
    return 2 ** len(self.features)

  @property
  def trunk_size(self) -> int:
    """Side of the feature map of one window: n -> n - 4 (VALID conv) -> floor(n / 2) (pool)."""
    side = self.window
    for _ in self.features:
      side = (side - 4 if self.padding == 'VALID' else side) // 2
    return side

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # no dropout or batch norm
    if x.ndim != 4:
      raise ValueError(f'WindowClassifier takes [N, H, W, C], got shape {x.shape}.')
    if not self.convolutional and x.shape[1:3] != (self.window, self.window):
      raise ValueError(f'The FC window classifier takes {self.window}x{self.window} windows, '
                       f'got {x.shape[1:3]}; for whole images use convolutional=True '
                       '(weights: fc_to_conv).')
    if min(x.shape[1:3]) < self.window:
      raise ValueError(f'Image {x.shape[1:3]} is smaller than one {self.window}x{self.window} '
                       'window.')
    for i, width in enumerate(self.features):
      x = nn.relu(nn.Conv(width, (5, 5), padding=self.padding, name=f'conv{i + 1}')(x))
      x = nn.max_pool(x, (2, 2), (2, 2))  # VALID: floor, so windows stay stride-aligned
    if self.convolutional:
      s = self.trunk_size
      x = nn.relu(nn.Conv(self.hidden, (s, s), padding='VALID', name='fc1')(x))
      return nn.Conv(self.num_classes, (1, 1), name='fc2')(x)
    x = x.reshape(x.shape[0], -1)  # (h, w, c) order
    x = nn.relu(nn.Dense(self.hidden, name='fc1')(x))
    return nn.Dense(self.num_classes, name='fc2')(x)


def dense_to_conv(kernel: jax.Array, in_shape: tuple[int, int, int],
                  flatten: Literal['hwc', 'chw'] = 'hwc') -> jax.Array:
  """A Dense kernel `[h*w*c, out]` that follows a flatten of an (h, w, c) map -> the HWIO
  kernel `[h, w, c, out]` of the equivalent VALID convolution.

  flatten: the order the rows were flattened in: 'hwc' (NHWC: Flax, TF) or 'chw' (NCHW:
  PyTorch, Caffe; rows reshape to (c, h, w, out), then transpose to (h, w, c, out)).
  """
  h, w, c = in_shape
  if kernel.shape[0] != h * w * c:
    raise ValueError(f'Dense kernel {kernel.shape} does not follow a flatten of {in_shape} '
                     f'({h * w * c} inputs).')
  if flatten == 'hwc':
    return kernel.reshape(h, w, c, -1)
  if flatten == 'chw':
    return kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3)
  raise ValueError(f"flatten must be 'hwc' or 'chw', got {flatten!r}.")


def fc_to_conv(params: dict, model: WindowClassifier, flatten: Literal['hwc', 'chw'] = 'hwc'):
  """The FC classifier's params -> params of `model.clone(convolutional=True)`: the convs
  are shared, fc1 `[S*S*C, F]` -> `[S, S, C, F]`, fc2 `[F, K]` -> `[1, 1, F, K]`; biases kept."""
  params = dict(params)
  s, c = model.trunk_size, model.features[-1]
  params['fc1'] = {'kernel': dense_to_conv(jnp.asarray(params['fc1']['kernel']), (s, s, c),
                                           flatten), 'bias': params['fc1']['bias']}
  kernel = jnp.asarray(params['fc2']['kernel'])
  params['fc2'] = {'kernel': kernel.reshape(1, 1, *kernel.shape), 'bias': params['fc2']['bias']}
  return params


def grid_size(height: int, width: int, window: int, stride: int) -> tuple[int, int]:
  """Windows per column and row: n' = (n - window) // stride + 1."""
  return (height - window) // stride + 1, (width - window) // stride + 1


def window_boxes(height: int, width: int, window: int, stride: int) -> np.ndarray:
  """`[H', W', 4]` xyxy pixel box of every window: (s j, s i, s j + window, s i + window)."""
  gh, gw = grid_size(height, width, window, stride)
  i, j = np.meshgrid(np.arange(gh), np.arange(gw), indexing='ij')
  return np.stack([j * stride, i * stride, j * stride + window, i * stride + window],
                  -1).astype(np.float32)


def crop_windows(image: jax.Array, window: int, stride: int) -> jax.Array:
  """`[H, W, C]` -> `[H' * W', window, window, C]`: every window, row-major (static gather)."""
  gh, gw = grid_size(image.shape[0], image.shape[1], window, stride)
  rows = (np.arange(gh) * stride)[:, None] + np.arange(window)        # [gh, window]
  cols = (np.arange(gw) * stride)[:, None] + np.arange(window)        # [gw, window]
  crops = image[rows[:, None, :, None], cols[None, :, None, :]]       # [gh, gw, win, win, C]
  return crops.reshape(gh * gw, window, window, image.shape[-1])


def naive_scores(model: WindowClassifier, params: dict, image: jax.Array,
                 batch: int = 256) -> jax.Array:
  """(a) Crop-and-classify: `[H, W, C]` -> `[H', W', K]` logits, windows `batch` at a time
  (`lax.map`, so memory stays at one batch of crops)."""
  gh, gw = grid_size(image.shape[0], image.shape[1], model.window, model.stride)
  crops = crop_windows(image, model.window, model.stride)
  n = crops.shape[0]
  batch = min(batch, n)  # no padded work on small images
  padded = -(-n // batch) * batch
  crops = jnp.pad(crops, ((0, padded - n), (0, 0), (0, 0), (0, 0)))
  chunks = crops.reshape(padded // batch, batch, *crops.shape[1:])
  logits = jax.lax.map(lambda c: model.apply({'params': params}, c), chunks)
  return logits.reshape(padded, -1)[:n].reshape(gh, gw, -1)


def conv_scores(model: WindowClassifier, conv_params: dict, image: jax.Array) -> jax.Array:
  """(b) One pass of the convolutional model: `[H, W, C]` -> `[H', W', K]` logits
  (`conv_params` from `fc_to_conv`)."""
  return model.clone(convolutional=True).apply({'params': conv_params}, image[None])[0]
