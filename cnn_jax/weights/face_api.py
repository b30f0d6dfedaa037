"""face-api's face-recognition network (dlib's ResNet-34-style recogniser) as Flax variables.

The weights ship in the npm package `@vladmandic/face-api@1.7.15` (MIT): the tarball that
`npm pack` fetches holds `package/model/face_recognition_model.bin` (6,444,032 bytes) and
`package/model/face_recognition_model-weights_manifest.json`, a TensorFlow.js weights
manifest. Nothing in the package is executed: the tarball is opened with `tarfile` and only
those two members are read; the tarball, the .bin and the manifest are SHA-256 checked, and
the two files are cached as `<cache>/face_api_1.7.15/...` (<cache>: $CNN_JAX_CACHE or
~/.cache/cnn_jax).

TensorFlow.js manifest format: `[{'paths': [...], 'weights': [{'name', 'shape', 'dtype',
'quantization'?}, ...]}]`; the tensors are concatenated in manifest order in the .bin, each
float32 (4 bytes/value) or uint8-quantised (1 byte/value) and then
    w = q * scale + min          (q in 0..255, per-tensor `scale`, `min`)
as tfjs-core's `decodeWeights` does. 109 of the 117 tensors are uint8, 8 (the 3x3 kernels of
the 64-channel stage) float32. Kernels are already HWIO, `fc` is (256, 128) = (in, out).

Names map one-to-one onto `models.face_recognition.FaceRecognitionNet`:
    'conv64_1/conv2/conv/filters' -> params['conv64_1']['conv2']['conv']['kernel']
    '.../conv/bias'               -> [...]['conv']['bias']
    '.../scale/weights|biases'    -> [...]['scale']['weights'|'biases']
    'fc'                          -> params['fc']['kernel']

    variables = load_face_recognition()       # fetches once (needs `npm`), then cached
    emb = models.create('face_recognition').apply(variables, images_150)   # [N, 128]

Without npm: download https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz
with any tool and pass its path as `tarball=`; or pass the two files as `paths=(manifest, bin)`.
"""
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile

import numpy as np

from cnn_jax.weights import fetch, files

PACKAGE = '@vladmandic/face-api'
VERSION = '1.7.15'
TARBALL_SHA256 = '0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031'
BIN_MEMBER = 'package/model/face_recognition_model.bin'
BIN_SHA256 = 'b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589'
MANIFEST_MEMBER = 'package/model/face_recognition_model-weights_manifest.json'
MANIFEST_SHA256 = 'cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b'
_BYTES_PER = {'float32': 4, 'uint8': 1, 'uint16': 2, 'int32': 4}
_CONV_KEYS = {'filters': 'kernel', 'bias': 'bias'}


class ManifestError(ValueError):
  """The manifest and the weight bytes disagree (sizes, dtypes, names)."""


def _cache_folder(cache) -> pathlib.Path:
  return (pathlib.Path(cache) if cache is not None else fetch.cache_dir()) / f'face_api_{VERSION}'


def npm_pack(dest: str) -> pathlib.Path:
  """`npm pack @vladmandic/face-api@1.7.15 --pack-destination dest --ignore-scripts`: the .tgz.

  `npm pack` of a registry package only downloads its tarball (no install, no scripts)."""
  npm = shutil.which('npm')
  if npm is None:
    raise fetch.FetchError(
        'npm is not installed. Download the tarball https://registry.npmjs.org/@vladmandic/'
        f'face-api/-/face-api-{VERSION}.tgz and pass its path as tarball=..., or install npm.')
  cmd = [npm, 'pack', f'{PACKAGE}@{VERSION}', '--pack-destination', dest, '--ignore-scripts',
         '--silent']
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
  tgz = sorted(pathlib.Path(dest).glob('*.tgz'))
  if proc.returncode != 0 or len(tgz) != 1:
    detail = (proc.stderr or proc.stdout).strip()[-1500:]
    raise fetch.FetchError(f'{" ".join(cmd)} failed (exit {proc.returncode}): {detail}\nThe npm '
                           'registry must be reachable once; then the weights are cached.')
  return tgz[0]


def extract(tarball: str | os.PathLike, folder: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
  """Checks the tarball's SHA-256, reads the two members (no extraction of anything else),
  checks theirs and writes them atomically into `folder`: (manifest path, bin path)."""
  files.verify_sha256(tarball, TARBALL_SHA256)
  folder.mkdir(parents=True, exist_ok=True)
  out = []
  with tarfile.open(tarball, 'r:gz') as archive:
    for member, digest in ((MANIFEST_MEMBER, MANIFEST_SHA256), (BIN_MEMBER, BIN_SHA256)):
      handle = archive.extractfile(member)
      if handle is None:
        raise fetch.FetchError(f'{tarball} has no regular file {member}.')
      data = handle.read()
      files.check_digest(files.sha256_bytes(data), digest, f'{member} in {tarball}')
      path = folder / member.rsplit('/', 1)[-1]
      partial = path.with_name(f'.{path.name}.{os.getpid()}.partial')
      partial.write_bytes(data)
      os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
      out.append(path)
  return out[0], out[1]


def fetch_files(cache: str | os.PathLike | None = None,
                tarball: str | os.PathLike | None = None) -> tuple[pathlib.Path, pathlib.Path]:
  """(manifest, bin) verified: from the cache, else from `tarball`, else from `npm pack`."""
  folder = _cache_folder(cache)
  manifest = folder / MANIFEST_MEMBER.rsplit('/', 1)[-1]
  binary = folder / BIN_MEMBER.rsplit('/', 1)[-1]
  if tarball is None and manifest.exists() and binary.exists():
    files.verify_sha256(manifest, MANIFEST_SHA256)
    files.verify_sha256(binary, BIN_SHA256)
    return manifest, binary
  if tarball is not None:
    return extract(tarball, folder)
  with tempfile.TemporaryDirectory(prefix='cnn_jax_npm_') as tmp:
    return extract(npm_pack(tmp), folder)


def decode(manifest: list, data: bytes) -> dict[str, np.ndarray]:
  """TensorFlow.js weights: manifest (parsed JSON) + concatenated bytes -> {name: float32}.

  Raises ManifestError when the byte count the manifest implies differs from len(data) (the
  wrong .bin, a truncated file or a different manifest) or a dtype is unknown."""
  specs = [w for group in manifest for w in group['weights']]
  sizes = []
  for spec in specs:
    count = int(np.prod(spec['shape'], dtype=np.int64))
    dtype = spec.get('quantization', {}).get('dtype', spec['dtype'])
    if dtype not in _BYTES_PER:
      raise ManifestError(f'{spec["name"]}: dtype {dtype!r} is not supported ({list(_BYTES_PER)}).')
    sizes.append(count * _BYTES_PER[dtype])
  if sum(sizes) != len(data):
    raise ManifestError(f'The manifest describes {sum(sizes)} bytes ({len(specs)} tensors) but the '
                        f'weight file has {len(data)}: they do not belong together.')
  out, offset = {}, 0
  for spec, size in zip(specs, sizes):
    chunk = data[offset:offset + size]
    offset += size
    quant = spec.get('quantization')
    if quant is None:
      values = np.frombuffer(chunk, dtype=np.dtype(spec['dtype']).newbyteorder('<'))
    else:  # w = q * scale + min (tfjs decodeWeights), computed in float32 as tfjs does
      q = np.frombuffer(chunk, dtype=np.dtype(quant['dtype']).newbyteorder('<'))
      values = q.astype(np.float32) * np.float32(quant['scale']) + np.float32(quant['min'])
    out[spec['name']] = np.asarray(values, np.float32).reshape(spec['shape'])
  return out


def to_variables(weights: dict[str, np.ndarray]) -> dict:
  """{'conv32_1/conv1/conv/filters': ...} -> {'params': nested dict} for FaceRecognitionNet."""
  params: dict = {}
  for name, value in weights.items():
    parts = name.split('/')
    if parts == ['fc']:
      params['fc'] = {'kernel': value}
      continue
    leaf = parts[-1]
    if parts[-2] == 'conv':
      leaf = _CONV_KEYS.get(leaf)
    elif parts[-2] != 'scale' or leaf not in ('weights', 'biases'):
      leaf = None
    if leaf is None:
      raise ManifestError(f'Unexpected tensor name {name!r} in the face-recognition manifest.')
    node = params
    for key in parts[:-1]:
      node = node.setdefault(key, {})
    node[leaf] = value
  return {'params': params}


def load_face_recognition(cache: str | os.PathLike | None = None,
                          tarball: str | os.PathLike | None = None,
                          paths: tuple[str, str] | None = None) -> dict:
  """FaceRecognitionNet variables ({'params': ...}, float32 numpy, 5,614,592 parameters).

  Args:
    cache: cache folder (default $CNN_JAX_CACHE or ~/.cache/cnn_jax).
    tarball: a local face-api-1.7.15.tgz (checked) instead of running `npm pack`.
    paths: (manifest path, bin path) read directly; the .bin is checked against its SHA-256.
  """
  if paths is not None:
    manifest_path, bin_path = map(pathlib.Path, paths)
    files.verify_sha256(bin_path, BIN_SHA256)
  else:
    manifest_path, bin_path = fetch_files(cache, tarball)
  manifest = json.loads(manifest_path.read_text())
  return to_variables(decode(manifest, bin_path.read_bytes()))
