"""dlib's face-recognition ResNet (as face-api.js runs it): a face image -> a 128-d embedding.

    150x150x3 -> conv32_down 7x7/2 valid (32) -> maxpool 3x3/2 valid      72 -> 35
      -> conv32_1..3 (residual, 32)                                        35
      -> conv64_down (residual down, 64)  -> conv64_1..3                   17
      -> conv128_down (128)               -> conv128_1..2                   8
      -> conv256_down (256)               -> conv256_1..2 -> conv256_down_out    4 -> 2
      -> mean over H, W -> fc 256 -> 128 (no bias)                    = f(x), 5,614,592 params

Every conv is `conv (+bias) -> scale (per-channel w * x + b, dlib's 'affine' layer: batch norm
folded into a fixed affine map) -> [relu]`; 3x3 convs are SAME at stride 1, VALID at stride 2.
    residual:      relu(x + convNoRelu(conv(x)))
    residual down: relu(avgpool2x2/2(x) [channels zero-padded to the new width]
                        + convNoRelu(convDown3x3/2(x)) [zero row/column appended at the
                        bottom/right when VALID 3x3/2 gives one less than the 2x2/2 pool])
The last two down blocks meet that case: 8 -> 3 (conv) vs 4 (pool), 4 -> 1 vs 2.

The input is RGB in [0, 1]; the module subtracts dlib's mean colour (122.782, 117.001,
104.298)/255 itself (face-api: (x - mean) / 255 on 0..255 pixels). Pretrained weights:
`weights.face_api.load_face_recognition()`; other image sizes go through `preprocess`
(face-api's centred pad-to-square + bilinear resize to 150x150). Two faces are the same
person when ||f(a) - f(b)|| < 0.6 (dlib's threshold, raw embeddings, no normalisation).

The same module with `widths`, `blocks`, `embedding_dim`, `norm='batch'` and
`input_size=None` is a small embedding net to train from scratch (e.g. for the triplet loss).
"""
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

MEAN_RGB = (122.782, 117.001, 104.298)  # dlib's training-set mean colour, 0..255


def resize_bilinear_legacy(images: jax.Array, size: int) -> jax.Array:
  """TensorFlow's resize_bilinear(align_corners=False, half_pixel_centers=False), which
  face-api (tfjs) uses: output pixel i samples source coordinate i * (in / out), the upper
  neighbour clamped to the last row/column.

  images: [N, H, W, C] -> [N, size, size, C].
  """
  def axis_weights(n_in):
    src = jnp.arange(size, dtype=jnp.float32) * (n_in / size)
    lo = jnp.floor(src).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo

  y0, y1, fy = axis_weights(images.shape[1])
  x0, x1, fx = axis_weights(images.shape[2])
  top = images[:, y0] * (1 - fy)[None, :, None, None] + images[:, y1] * fy[None, :, None, None]
  return top[:, :, x0] * (1 - fx)[None, None, :, None] + top[:, :, x1] * fx[None, None, :, None]


def preprocess(images: jax.Array, size: int = 150, mode: str = 'pad') -> jax.Array:
  """Any face crops -> the network's input: [N, H, W, 1|3] in [0, 1] -> [N, size, size, 3].

  mode 'pad' is face-api's `toBatchTensor(150, isCenterInputs=true)`: the shorter side is
  zero-padded to a square (round(d / 2) after, the rest before), then resized with
  `resize_bilinear_legacy`. 'stretch' resizes straight to size x size (aspect not kept).
  On the 400 ORL faces (92x112) the 1-NN identity accuracy is 97.0% with 'pad' and 98.0% with
  'stretch' (experiments/face_pretrained_orl.py). Grey images are repeated over RGB.
  """
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f'preprocess expects [N, H, W, 1 or 3] images, got shape {images.shape}.')
  if mode not in ('pad', 'stretch'):
    raise ValueError(f"mode must be 'pad' (face-api) or 'stretch', got {mode!r}.")
  images = images.astype(jnp.float32)
  if images.shape[-1] == 1:
    images = jnp.repeat(images, 3, axis=-1)
  h, w = images.shape[1:3]
  if mode == 'pad' and h != w:
    diff = abs(h - w)
    after = (diff + 1) // 2  # JavaScript Math.round(diff * 0.5): halves round up
    pad = [(diff - after, after), (0, 0)] if w > h else [(0, 0), (diff - after, after)]
    images = jnp.pad(images, [(0, 0), *pad, (0, 0)])
  if images.shape[1:3] != (size, size):
    images = resize_bilinear_legacy(images, size)
  return images


class Scale(nn.Module):
  """dlib's affine layer: y = x * weights + biases per channel (batch norm frozen into a map)."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = x.shape[-1]
    return (x * self.param('weights', nn.initializers.ones, (c,))
            + self.param('biases', nn.initializers.zeros, (c,)))


class ConvLayer(nn.Module):
  """conv k x k (+bias) -> Scale ('affine') or BatchNorm ('batch') -> relu if `relu`.

  SAME padding at stride 1, VALID at stride > 1 (face-api's convDown). Children are named
  'conv' and 'scale' (or 'bn'), as the weight file's 'conv/filters', 'scale/weights'.
  """
  features: int
  kernel: int = 3
  stride: int = 1
  relu: bool = True
  norm: str = 'affine'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    padding = 'SAME' if self.stride == 1 else 'VALID'
    x = nn.Conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride), padding,
                use_bias=self.norm == 'affine', name='conv')(x)
    if self.norm == 'affine':
      x = Scale(name='scale')(x)
    else:  # from-scratch training: batch statistics instead of a fixed affine map
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name='bn')(x)
    return nn.relu(x) if self.relu else x


class Residual(nn.Module):
  """relu(x + conv2(relu(conv1(x)))), or the down form (module doc) when `down`."""
  features: int
  down: bool = False
  norm: str = 'affine'

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    out = ConvLayer(self.features, 3, 2 if self.down else 1, True, self.norm, name='conv1')(x, train)
    out = ConvLayer(self.features, 3, 1, False, self.norm, name='conv2')(out, train)
    if not self.down:
      return nn.relu(out + x)
    pooled = nn.avg_pool(x, (2, 2), (2, 2), 'VALID')
    # VALID 3x3/2 can give one row/column fewer than the 2x2/2 pool: face-api appends zeros.
    dh, dw = pooled.shape[1] - out.shape[1], pooled.shape[2] - out.shape[2]
    out = jnp.pad(out, [(0, 0), (0, dh), (0, dw), (0, 0)])
    dc = out.shape[-1] - pooled.shape[-1]  # channels widen: the shortcut is zero-padded
    pooled = jnp.pad(pooled, [(0, 0), (0, 0), (0, 0), (0, dc)])
    return nn.relu(pooled + out)


class FaceRecognitionNet(nn.Module):
  """`[N, H, W, 3]` RGB in [0, 1] -> `[N, embedding_dim]` embeddings (not normalised).

  Attributes:
    widths: channels of the four stages (32, 64, 128, 256) in dlib's net.
    blocks: residual blocks after each stage's entry (3, 3, 2, 2); the last stage ends with
      one more down block ('..._down_out').
    embedding_dim: output size (128).
    norm: 'affine' (dlib's fixed per-channel scale; the pretrained weights) or 'batch'.
    input_size: the size the weights expect (150) - other sizes are refused with a pointer to
      `preprocess`; None accepts any size (fully convolutional up to the mean).
    subtract_mean: subtract dlib's mean colour (`MEAN_RGB` / 255) first.
  """
  widths: tuple[int, int, int, int] = (32, 64, 128, 256)
  blocks: tuple[int, int, int, int] = (3, 3, 2, 2)
  embedding_dim: int = 128
  norm: Literal['affine', 'batch'] = 'affine'
  input_size: int | None = 150
  subtract_mean: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if self.norm not in ('affine', 'batch'):
      raise ValueError(f"norm must be 'affine' or 'batch', got {self.norm!r}.")
    if any(b <= a for a, b in zip(self.widths, self.widths[1:])):
      raise ValueError(f'widths must increase stage by stage (the down blocks zero-pad the '
                       f'shortcut to the new width, and name layers by width), got {self.widths}.')
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f'FaceRecognitionNet expects [N, H, W, 3] RGB images, got {x.shape}.')
    if self.input_size is not None and x.shape[1:3] != (self.input_size, self.input_size):
      raise ValueError(
          f'FaceRecognitionNet expects {self.input_size}x{self.input_size} faces, got '
          f'{x.shape[1]}x{x.shape[2]}: resize with models.face_recognition.preprocess(images, '
          f'{self.input_size}) (centred pad to square + bilinear), or set input_size=None.')
    if self.subtract_mean:
      x = x - jnp.asarray(MEAN_RGB, x.dtype) / 255.0
    w0 = self.widths[0]
    x = ConvLayer(w0, 7, 2, True, self.norm, name=f'conv{w0}_down')(x, train)
    x = nn.max_pool(x, (3, 3), (2, 2), 'VALID')
    for stage, (width, count) in enumerate(zip(self.widths, self.blocks)):
      if stage > 0:
        x = Residual(width, True, self.norm, name=f'conv{width}_down')(x, train)
      for i in range(1, count + 1):
        x = Residual(width, False, self.norm, name=f'conv{width}_{i}')(x, train)
    w3 = self.widths[-1]
    x = Residual(w3, True, self.norm, name=f'conv{w3}_down_out')(x, train)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.embedding_dim, use_bias=False, name='fc')(x)
