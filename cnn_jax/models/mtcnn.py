"""MTCNN's three networks (Zhang et al. 2016) in Flax, and the conversion of the real weights.

    nets = weights.mtcnn.load_mtcnn()             # Keras layouts (the mtcnn==0.1.1 wheel)
    variables = from_keras(nets)                  # {'pnet': {'params': ...}, 'rnet', 'onet'}
    prob, reg = PNet().apply(variables['pnet'], x)          # x: [N, H, W, 3], (pixel - 127.5) / 128
    prob, reg = RNet().apply(variables['rnet'], crops24)    # [N, 24, 24, 3] -> [N], [N, 4]
    prob, reg, marks = ONet().apply(variables['onet'], crops48)  # ... + [N, 10] (x1..x5, y1..y5)

P-Net is fully convolutional: its 12x12 receptive field slides over the image with stride 2
(one 2x2/2 pool), so one call scores every 12x12 window of an image of any size (>= 12): the
course's convolutional sliding window, `[N, H, W, 3] -> prob [N, H', W'], reg [N, H', W', 4]`
with H' = ceil((H - 2) / 2) - 4. R-Net and O-Net end in dense layers on fixed 24x24 / 48x48
crops. `prob` is P(face) = softmax(logits)[..., 1]; `reg` the box offsets (dx1, dy1, dx2, dy2)
as fractions of the box width/height; O-Net's 10 landmark outputs are (x1..x5, y1..y5) as
fractions of the box, the points being left eye, right eye, nose, left and right mouth corner.

Layout. The original Caffe model (and the Keras copy whose weights we read) was trained on
*transposed* images: its first spatial axis is x. Rather than transposing every input, the
kernels are transposed once: conv kernels HWIO -> (kw, kh, I, O), and each dense layer that
follows a flatten has its input rows permuted from Keras's (x, y, c) order to our (y, x, c)
order (`_dense_after_flatten`). The outputs are then those of the Keras nets on transposed
inputs, number for number (checked against facenet-pytorch's independent conversion).
Max pools use Keras's 'same' padding (-inf; extra cell at the high end), which equals
Caffe's ceil mode on every size these nets see.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class PReLU(nn.Module):
  """Parametric ReLU, one slope per channel: y = max(x, 0) + alpha * min(x, 0) over `[..., C]`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    alpha = self.param('alpha', nn.initializers.constant(0.25), (x.shape[-1],))
    return jnp.where(x >= 0, x, alpha * x)


def _conv_prelu(x, features, kernel, name):
  x = nn.Conv(features, (kernel, kernel), padding='VALID', name=f'conv{name}')(x)
  return PReLU(name=f'prelu{name}')(x)


def _check(x: jax.Array, size: int | None, net: str) -> None:
  if x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f'{net} takes [N, H, W, 3] normalised RGB, got shape {x.shape}.')
  if size is not None and x.shape[1:3] != (size, size):
    raise ValueError(f'{net} takes {size}x{size} crops, got {x.shape[1:3]}.')
  if size is None and min(x.shape[1:3]) < 12:
    raise ValueError(f'{net} needs H, W >= 12 (its window), got {x.shape[1:3]}.')


def _face_prob(logits: jax.Array) -> jax.Array:
  return jax.nn.softmax(logits, axis=-1)[..., 1]


class PNet(nn.Module):
  """Proposal net, 12x12 window, stride 2:
  `[N, H, W, 3] -> (prob [N, H', W'], reg [N, H', W', 4])`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    _check(x, None, 'PNet')
    x = _conv_prelu(x, 10, 3, '1')
    x = nn.max_pool(x, (2, 2), (2, 2), padding='SAME')
    x = _conv_prelu(x, 16, 3, '2')
    x = _conv_prelu(x, 32, 3, '3')
    logits = nn.Conv(2, (1, 1), name='conv4_1')(x)
    reg = nn.Conv(4, (1, 1), name='conv4_2')(x)
    return _face_prob(logits), reg


class RNet(nn.Module):
  """Refinement net: `[N, 24, 24, 3] -> (prob [N], reg [N, 4])`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    _check(x, 24, 'RNet')
    x = _conv_prelu(x, 28, 3, '1')                                    # 22
    x = nn.max_pool(x, (3, 3), (2, 2), padding='SAME')                # 11
    x = _conv_prelu(x, 48, 3, '2')                                    # 9
    x = nn.max_pool(x, (3, 3), (2, 2), padding='VALID')               # 4
    x = _conv_prelu(x, 64, 2, '3')                                    # 3
    x = x.reshape(x.shape[0], -1)                                     # (y, x, c) order
    x = PReLU(name='prelu4')(nn.Dense(128, name='dense4')(x))
    return _face_prob(nn.Dense(2, name='dense5_1')(x)), nn.Dense(4, name='dense5_2')(x)


class ONet(nn.Module):
  """Output net: `[N, 48, 48, 3] -> (prob [N], reg [N, 4], landmarks [N, 10])`."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    _check(x, 48, 'ONet')
    x = _conv_prelu(x, 32, 3, '1')                                    # 46
    x = nn.max_pool(x, (3, 3), (2, 2), padding='SAME')                # 23
    x = _conv_prelu(x, 64, 3, '2')                                    # 21
    x = nn.max_pool(x, (3, 3), (2, 2), padding='VALID')               # 10
    x = _conv_prelu(x, 64, 3, '3')                                    # 8
    x = nn.max_pool(x, (2, 2), (2, 2), padding='SAME')                # 4
    x = _conv_prelu(x, 128, 2, '4')                                   # 3
    x = x.reshape(x.shape[0], -1)
    x = PReLU(name='prelu5')(nn.Dense(256, name='dense5')(x))
    return (_face_prob(nn.Dense(2, name='dense6_1')(x)), nn.Dense(4, name='dense6_2')(x),
            nn.Dense(10, name='dense6_3')(x))


NETS = {'pnet': PNet, 'rnet': RNet, 'onet': ONet}
# The spatial size (S, S, C) of the feature map each net flattens into its first dense layer.
_FLATTENED = {('rnet', 'dense4'): (3, 3, 64), ('onet', 'dense5'): (3, 3, 128)}


def _dense_after_flatten(kernel: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
  """Dense kernel rows from Keras's flatten order over the transposed map, (x, y, c), to ours,
  (y, x, c): reshape [S*S*C, out] -> [Sx, Sy, C, out], swap the two spatial axes, flatten."""
  s1, s2, c = shape
  if kernel.shape[0] != s1 * s2 * c:
    raise ValueError(f'dense kernel {kernel.shape} does not follow a {shape} flatten.')
  return kernel.reshape(s1, s2, c, -1).transpose(1, 0, 2, 3).reshape(s1 * s2 * c, -1)


def _expected_shapes(net: str) -> dict:
  size = {'pnet': 12, 'rnet': 24, 'onet': 48}[net]
  shapes = jax.eval_shape(NETS[net]().init, jax.random.key(0),
                          jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32))
  return jax.tree_util.tree_map(lambda s: s.shape, shapes['params'])


def from_keras(nets: dict) -> dict:
  """`weights.mtcnn.load_mtcnn()` (Keras layouts) -> {'pnet'|'rnet'|'onet': Flax variables}.

  Conv kernels (kh, kw, I, O) -> (kw, kh, I, O); PReLU alphas (1, 1, C) or (C,) -> (C,); the
  first dense kernel after each flatten re-ordered (module doc). Every converted array is
  checked against the shape the Flax net expects; a missing or extra layer is an error naming
  it.
  """
  out = {}
  for net, layers in nets.items():
    if net not in NETS:
      raise ValueError(f'Unknown MTCNN net {net!r}; expected {sorted(NETS)}.')
    expected = _expected_shapes(net)
    missing, extra = sorted(set(expected) - set(layers)), sorted(set(layers) - set(expected))
    if missing or extra:
      raise ValueError(f'MTCNN {net}: missing layers {missing}, unexpected layers {extra}.')
    params = {}
    for name, arrays in layers.items():
      layer = {}
      for kind, value in arrays.items():
        value = np.asarray(value, np.float32)
        if kind == 'alpha':
          value = value.reshape(-1)
        elif kind == 'kernel' and value.ndim == 4:
          value = value.transpose(1, 0, 2, 3)
        elif kind == 'kernel' and (net, name) in _FLATTENED:
          value = _dense_after_flatten(value, _FLATTENED[net, name])
        want = expected[name].get(kind)
        if want is None or tuple(want) != value.shape:
          raise ValueError(f'MTCNN {net}/{name}/{kind}: shape {value.shape}, the Flax net '
                           f'expects {want}.')
        layer[kind] = value
      params[name] = layer
    out[net] = {'params': params}
  if set(out) != set(NETS):
    raise ValueError(f'MTCNN weights hold {sorted(out)}, expected {sorted(NETS)}.')
  return out
