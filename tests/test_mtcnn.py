"""MTCNN: the three nets converted from the Keras weights, the static-shape cascade, and bad
input.

References: tests/fixtures/mtcnn_facenet.npz, made once by tests/fixtures/make_mtcnn.py with
facenet-pytorch 2.6.0 (an independent conversion of the same original model): raw net outputs
on fixed crops, and `detect_face` boxes / landmarks on ORL photos, a 2 x 4 ORL mosaic,
skimage's astronaut and darknet's person.jpg. Hand-computed cases for the pure pieces. The
real weights are fetched once into the cache (skipped only when the registry is unreachable).
"""
import numpy as np
import pytest
import jax
import jax.numpy as jnp

from cnn_jax.models import mtcnn, mtcnn_cascade as cascade
from cnn_jax.ops import area_resize, boxes as box_ops
from cnn_jax.weights import files, mtcnn as mtcnn_weights

from test_orl import _wheel
from zoo_testing import FAST_COMPILE
from conftest import fetched_or_skip

REF = np.load(__import__('pathlib').Path(__file__).with_name('fixtures') / 'mtcnn_facenet.npz')
MOSAIC = (3, 4, 5, 6, 8, 9, 10, 11)


@pytest.fixture(scope='module')
def variables():
  return mtcnn.from_keras(fetched_or_skip(mtcnn_weights.load_mtcnn))


def assert_same_faces(faces, name, index=None):
  """IoU >= 0.9 with facenet-pytorch's box for every face, the same count, landmarks <= 2 px."""
  take = (lambda a: np.asarray(a)) if index is None else (lambda a: np.asarray(a)[index])
  valid = take(faces.valid)
  boxes, marks = take(faces.boxes)[valid], take(faces.landmarks)[valid]
  ref_boxes, ref_marks = REF[f'{name}_boxes'], REF[f'{name}_points']
  assert len(boxes) == len(ref_boxes), name
  if len(boxes):
    iou = np.asarray(box_ops.box_iou(boxes, ref_boxes))
    match = iou.argmax(1)
    assert sorted(match) == list(range(len(ref_boxes))), name
    assert iou.max(1).min() >= 0.9, (name, iou.max(1))
    assert np.abs(marks - ref_marks[match]).max() <= 2.0, name
    np.testing.assert_allclose(take(faces.scores)[valid], REF[f'{name}_scores'][match], atol=1e-3)


def test_nets_equal_facenet_pytorch(variables):
  apply = lambda net: jax.jit(net.apply, compiler_options=FAST_COMPILE)
  prob, reg = apply(mtcnn.PNet())(variables['pnet'], REF['net_pnet_in'])
  np.testing.assert_allclose(prob[0], REF['net_pnet_prob'], atol=1e-5)
  np.testing.assert_allclose(reg[0], REF['net_pnet_reg'], atol=1e-5)
  prob, reg = apply(mtcnn.RNet())(variables['rnet'], REF['net_rnet_in'])
  np.testing.assert_allclose(prob, REF['net_rnet_prob'], atol=1e-5)
  np.testing.assert_allclose(reg, REF['net_rnet_reg'], atol=1e-5)
  prob, reg, marks = apply(mtcnn.ONet())(variables['onet'], REF['net_onet_in'])
  np.testing.assert_allclose(prob, REF['net_onet_prob'], atol=1e-5)
  np.testing.assert_allclose(reg, REF['net_onet_reg'], atol=1e-5)
  np.testing.assert_allclose(marks, REF['net_onet_landmarks'], atol=1e-5)
  assert cascade.pnet_map_size(REF['net_pnet_in'].shape[1:3]) == REF['net_pnet_prob'].shape


def _orl_photos():
  from cnn_jax.data import orl
  faces = orl.load_orl(_wheel())
  singles = {f'orl_s{s}_{n}': np.repeat(faces.image(s - 1, n), 3, -1)
             for s, n in [(1, 1), (2, 1), (7, 3)]}
  tiles = [faces.image(s - 1, 1)[..., 0] for s in MOSAIC]
  mosaic = np.concatenate([np.concatenate(tiles[:4], 1), np.concatenate(tiles[4:], 1)], 0)
  return singles, np.repeat(mosaic[..., None], 3, -1)


@pytest.mark.slow
def test_cascade_equals_facenet_on_orl_mosaic(variables):
  """8 faces in one 224 x 368 image: every stage, both NMS kinds, one compile."""
  _, mosaic = _orl_photos()
  result = cascade.make_detector(variables, compiler_options=FAST_COMPILE)(mosaic)
  assert_same_faces(result, 'orl_mosaic')
  assert int(result.counts[2]) == 8


@pytest.mark.slow
def test_cascade_equals_facenet_on_photos(variables):
  import skimage.data
  from test_debian import fetch_or_skip
  from cnn_jax.data import debian
  singles, _ = _orl_photos()
  whole = cascade.Settings(chunk=1024)  # one R-/O-Net batch: a lighter compile (the mosaic
  # test covers the chunked path; under vmap its skipping would be a select anyway)
  detect = cascade.make_detector(variables, whole, batched=True, compiler_options=FAST_COMPILE)
  result = detect(np.stack(list(singles.values())))  # the three 112 x 92 photos, vmapped
  for i, name in enumerate(singles):
    assert_same_faces(result, name, i)
  fetch_or_skip('darknet/person.jpg')
  detect = cascade.make_detector(variables, whole, compiler_options=FAST_COMPILE)
  assert_same_faces(detect(skimage.data.astronaut()), 'astronaut')
  faces = detect(debian.read_image('darknet/person.jpg'))
  assert_same_faces(faces, 'person')  # both find no face (a small face in profile)
  assert int(faces.counts[1]) >= 1  # R-Net still had candidates: O-Net rejected them


def _adaptive_avg_pool(image, region, size):
  """Independent loop: torch's adaptive_avg_pool2d cell bounds floor(i L / n), ceil((i+1) L / n)."""
  x0, y0, x1, y1 = region
  crop = image[y0:y1, x0:x1].astype(np.float64)
  out = np.zeros(size + image.shape[2:])
  for i in range(size[0]):
    for j in range(size[1]):
      a, b = (i * crop.shape[0]) // size[0], -(-(i + 1) * crop.shape[0] // size[0])
      c, d = (j * crop.shape[1]) // size[1], -(-(j + 1) * crop.shape[1] // size[1])
      out[i, j] = crop[a:b, c:d].mean(axis=(0, 1))
  return out


def test_area_resize_equals_adaptive_avg_pool_loop():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
  integral = jax.jit(area_resize.integral_image)(jnp.asarray(image))
  regions = np.array([[0, 0, 53, 37], [5, 7, 20, 30], [10, 3, 17, 8], [40, 30, 53, 37],
                      [5, 5, 5, 9]])  # the last one empty
  crops = np.asarray(jax.jit(area_resize.crop_resize, static_argnums=2)(
      integral, regions, (12, 12)))  # shrink and enlarge
  assert not np.any(crops[-1])
  for crop, region in zip(crops[:-1], regions):
    np.testing.assert_allclose(crop, _adaptive_avg_pool(image, region, (12, 12)), atol=1e-4)
  np.testing.assert_allclose(jax.jit(area_resize.resize, static_argnums=1)(integral, (25, 30)),
                             _adaptive_avg_pool(image, (0, 0, 53, 37), (25, 30)), atol=1e-4)


def test_pyramid_rerec_and_min_nms_hand_cases():
  # min(H, W) = 100, m = 12 / 20: sides 60, 42.54, 30.16, 21.39, 15.16, 10.75 (< 12: stop).
  np.testing.assert_allclose(cascade.pyramid_scales(100, 150),
                             [0.6 * 0.709 ** k for k in range(5)])
  assert cascade.pyramid_scales(19, 200) == []  # smaller than min_face: no level
  np.testing.assert_allclose(cascade.rerec(jnp.array([[10., 20., 30., 60.]])), [[0, 20, 40, 60]])
  # A 10x10 box inside a 40x40 one: IoU = 121/1681 keeps both, IoM = 121/121 = 1 drops the small.
  boxes = jnp.array([[0., 0., 39., 39.], [5., 5., 14., 14.], [100., 100., 120., 120.]])
  scores = jnp.array([0.9, 0.95, 0.8])
  kept = cascade.nms_min(boxes, scores, jnp.ones(3, bool), 0.7, 3)
  np.testing.assert_array_equal(kept.indices, [1, 2, -1])  # the inner box wins on score
  kept = cascade.nms_min(boxes, jnp.array([0.95, 0.9, 0.8]), jnp.array([True, True, False]),
                         0.7, 3)
  np.testing.assert_array_equal(kept.indices, [0, -1, -1])
  from cnn_jax.ops import nms
  np.testing.assert_array_equal(nms.nms(boxes, scores, 0.7, 3).indices, [1, 0, 2])


@pytest.mark.parametrize('shape, message', [
    ((2, 64, 64, 3), 'rank 4.*vmap'), ((64, 64), 'rank 2'), ((64, 64, 1), 'np.repeat'),
    ((64, 64, 4), 'alpha'), ((10, 64, 3), 'H, W >= 12')])
def test_bad_images_name_the_fix(shape, message):
  with pytest.raises(ValueError, match=message):
    cascade.detect({}, jnp.zeros(shape, jnp.uint8))


def test_bad_weight_files(tmp_path, variables):
  bad = tmp_path / 'mtcnn_weights.npy'
  np.save(bad, np.zeros(3))
  with pytest.raises(files.ChecksumError, match='mtcnn_weights.npy'):
    mtcnn_weights.load_mtcnn(bad)
  nets = mtcnn_weights.load_mtcnn()
  del nets['rnet']['dense4']
  with pytest.raises(ValueError, match=r"rnet: missing layers \['dense4'\]"):
    mtcnn.from_keras(nets)
  nets = mtcnn_weights.load_mtcnn()
  nets['onet']['conv2']['kernel'] = nets['onet']['conv2']['kernel'][..., :10]
  with pytest.raises(ValueError, match='onet/conv2/kernel'):
    mtcnn.from_keras(nets)
  raw = {net: [a for layer in layers.values() for a in layer.values()]
         for net, layers in mtcnn_weights.load_mtcnn().items()}
  raw['pnet'] = raw['pnet'][:-2]  # a Keras list with its last layer missing
  with pytest.raises(ValueError, match='pnet: 11 arrays, expected 13'):
    mtcnn_weights.name_weights(raw)
  del variables


@pytest.mark.slow
def test_mtcnn_detect_task_smoke(tmp_path, variables):
  import json
  from conftest import load_config
  from cnn_jax.tasks import mtcnn_detect
  config = load_config('mtcnn_detect')
  mtcnn_detect.run(config, str(tmp_path))
  found = json.loads((tmp_path / 'faces.json').read_text())['images']
  assert [found[n]['faces'] for n in ('orl:s1/1', 'orl:s2/1')] == [1, 1]
  iou = box_ops.box_iou(np.array(found['orl:s1/1']['boxes']), REF['orl_s1_1_boxes'])
  assert float(iou[0, 0]) >= 0.9
  assert (tmp_path / 'faces.png').stat().st_size > 10_000
  del variables


def test_photo_names_and_errors(tmp_path):
  from cnn_jax.data import photos
  image = photos.load_photo('astronaut')
  assert image.shape == (512, 512, 3) and image.dtype == np.uint8
  path = tmp_path / 'grey.png'
  from PIL import Image
  Image.fromarray(np.full((20, 30), 7, np.uint8)).save(path)
  np.testing.assert_array_equal(photos.load_photo(str(path)), np.full((20, 30, 3), 7))
  with pytest.raises(ValueError, match='Unknown photo'):
    photos.load_photo('no_such_photo')
  with pytest.raises(ValueError, match='orl:s<1..40>'):
    photos.load_photo('orl:x')
