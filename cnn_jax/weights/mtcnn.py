"""MTCNN's P-, R- and O-Net weights (Zhang et al. 2016) from pip `mtcnn==0.1.1`, as numpy.

The wheel's `mtcnn/data/mtcnn_weights.npy` is a pickled object array holding
{'pnet' | 'rnet' | 'onet': [Keras `get_weights()` list]}; it is read with the restricted
unpickler (`files.read_npy`), never `np.load(allow_pickle=True)`. The lists are named here
after the networks' layers (the package's `network/factory.py`, Keras channels-last):

    P-Net (12x12 proposals, fully convolutional):
      conv1 3x3 3->10, prelu1, [maxpool 2x2/2], conv2 3x3 10->16, prelu2, conv3 3x3 16->32,
      prelu3, conv4_1 1x1 32->2 (face / not face, softmax), conv4_2 1x1 32->4 (box offsets)
    R-Net (24x24 refinement):
      conv1 3x3 3->28, prelu1, [maxpool 3x3/2 same], conv2 3x3 28->48, prelu2,
      [maxpool 3x3/2 valid], conv3 2x2 48->64, prelu3, [flatten 3x3x64 = 576, (h, w, c)
      order], dense4 576->128, prelu4, dense5_1 128->2, dense5_2 128->4
    O-Net (48x48 output, with 5 landmarks):
      conv1 3x3 3->32, prelu1, [maxpool 3x3/2 same], conv2 3x3 32->64, prelu2,
      [maxpool 3x3/2 valid], conv3 3x3 64->64, prelu3, [maxpool 2x2/2 same], conv4 2x2 64->128,
      prelu4, [flatten 3x3x128 = 1152], dense5 1152->256, prelu5, dense6_1 256->2,
      dense6_2 256->4, dense6_3 256->10 (landmarks x1..x5, y1..y5)

Conv kernels are HWIO, dense kernels (in, out), biases (out,); PReLU slopes are 'alpha',
shape (1, 1, C) for the conv PReLUs (shared over H and W) and (C,) for the dense ones.

    nets = load_mtcnn()          # {'pnet': {'conv1': {'kernel', 'bias'}, 'prelu1': {'alpha'}...}}
"""
import os

import numpy as np

from cnn_jax.weights import fetch, files

# Each net's layers in Keras weight order: (name, kinds), kinds naming consecutive arrays.
LAYOUT = {
    'pnet': [('conv1', 'kb'), ('prelu1', 'a'), ('conv2', 'kb'), ('prelu2', 'a'),
             ('conv3', 'kb'), ('prelu3', 'a'), ('conv4_1', 'kb'), ('conv4_2', 'kb')],
    'rnet': [('conv1', 'kb'), ('prelu1', 'a'), ('conv2', 'kb'), ('prelu2', 'a'),
             ('conv3', 'kb'), ('prelu3', 'a'), ('dense4', 'kb'), ('prelu4', 'a'),
             ('dense5_1', 'kb'), ('dense5_2', 'kb')],
    'onet': [('conv1', 'kb'), ('prelu1', 'a'), ('conv2', 'kb'), ('prelu2', 'a'),
             ('conv3', 'kb'), ('prelu3', 'a'), ('conv4', 'kb'), ('prelu4', 'a'),
             ('dense5', 'kb'), ('prelu5', 'a'), ('dense6_1', 'kb'), ('dense6_2', 'kb'),
             ('dense6_3', 'kb')],
}
_KINDS = {'k': 'kernel', 'b': 'bias', 'a': 'alpha'}


def name_weights(raw: dict) -> dict[str, dict[str, dict[str, np.ndarray]]]:
  """{'pnet': [arrays...], ...} (Keras order) -> named nested dicts, checking the count and
  that each kernel's output width matches its bias and the next layer's input."""
  out = {}
  for net, layout in LAYOUT.items():
    arrays = list(raw[net])
    expected = sum(len(kinds) for _, kinds in layout)
    if len(arrays) != expected:
      raise ValueError(f'MTCNN {net}: {len(arrays)} arrays, expected {expected}.')
    layers, it = {}, iter(arrays)
    for name, kinds in layout:
      layers[name] = {_KINDS[k]: np.asarray(next(it), np.float32) for k in kinds}
      layer = layers[name]
      if 'kernel' in layer and layer['kernel'].shape[-1] != layer['bias'].shape[0]:
        raise ValueError(f'MTCNN {net}/{name}: kernel {layer["kernel"].shape} vs bias '
                         f'{layer["bias"].shape}.')
    out[net] = layers
  return out


def load_mtcnn(path: str | os.PathLike | None = None) -> dict:
  """MTCNN weights as nested dicts of float32 arrays (see the module doc for names/shapes).

  `path`: a local mtcnn_weights.npy (checked against the known SHA-256); None fetches it from
  the `mtcnn==0.1.1` wheel into the cache (`fetch.CARRIERS['mtcnn']`).
  """
  carrier = fetch.CARRIERS['mtcnn']
  if path is None:
    path = fetch.fetch(carrier)
  else:
    files.verify_sha256(path, carrier.sha256)
  array = files.read_npy(path)
  raw = array.item() if array.dtype == object and array.shape == () else None
  if not isinstance(raw, dict) or set(raw) != set(LAYOUT):
    raise ValueError(f'{path}: expected a dict with {sorted(LAYOUT)}.')
  return name_weights(raw)
