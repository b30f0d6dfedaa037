"""Segmentation losses and metrics against segmentation-models-pytorch / PyTorch (a fixture
computed once, tests/fixtures/make_segmentation_smp.py), hand-computed cases, and the
nuclei data carrier."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses import segmentation as losses
from cnn_jax.metrics import segmentation as metrics
from conftest import fetched_or_skip

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'segmentation_smp.npz')
K, IGNORE = 4, 255


def test_stats_and_every_reduction_match_smp():
  tp, fp, fn, tn = jax.jit(lambda p, t: metrics.stats(p, t, K, IGNORE))(
      FIXTURE['pred'], FIXTURE['target'])
  for name, value in zip(('tp', 'fp', 'fn', 'tn'), (tp, fp, fn, tn)):
    np.testing.assert_array_equal(value, FIXTURE[name])
  assert int(tp[0, 3] + fp[0, 3] + fn[0, 3]) == 0  # the empty class of image 0
  ours = {'iou_score': metrics.iou, 'f1_score': metrics.dice, 'accuracy': metrics.class_accuracy}
  checked = 0
  for key in FIXTURE.files:
    if key.count('/') != 2:
      continue
    metric, reduction, zero = key.split('/')
    kw = dict(class_weights=FIXTURE['class_weights']) if reduction == 'weighted' else {}
    value = ours[metric](tp, fp, fn, tn, reduction=reduction, empty=float(zero), **kw)
    np.testing.assert_allclose(value, FIXTURE[key], rtol=1e-6, err_msg=key)
    checked += 1
  assert checked == 36
  # Pixel accuracy: right pixels / counted pixels, by hand.
  counted = FIXTURE['target'] != IGNORE
  right = (FIXTURE['pred'] == FIXTURE['target']) & counted
  assert float(metrics.pixel_accuracy(tp, fp, fn, tn)) == pytest.approx(right.sum() / counted.sum())
  np.testing.assert_allclose(metrics.pixel_accuracy(tp, fp, fn, tn, per_image=True),
                             right.sum((1, 2)) / counted.sum((1, 2)), rtol=1e-6)
  with pytest.raises(ValueError, match='Unknown reduction'):
    metrics.iou(tp, fp, fn, tn, reduction='mean')


def test_confusion_matrix_accumulates_each_example_once():
  """Batches of 2 with the last one padded: the accumulated matrix equals the one-shot
  matrix over the 3 real images, and its macro scores equal smp's 'macro'."""
  pred, target = FIXTURE['pred'], FIXTURE['target']
  acc = metrics.ConfusionMatrix(K, IGNORE)
  acc.update(pred[:2], target[:2])
  acc.update(np.concatenate([pred[2:], pred[:1]]), np.concatenate([target[2:], target[:1]]),
             valid=np.array([True, False]))
  result = acc.result()
  assert result['examples'] == 3
  np.testing.assert_array_equal(acc.matrix, metrics.confusion_matrix(pred, target, K, IGNORE))
  counted = target != IGNORE
  ref = np.zeros((K, K), int)
  np.add.at(ref, (target[counted], pred[counted]), 1)
  np.testing.assert_array_equal(acc.matrix, ref)
  np.testing.assert_allclose(result['miou'], FIXTURE['iou_score/macro/1.0'], rtol=1e-6)
  np.testing.assert_allclose(result['mean_dice'], FIXTURE['f1_score/macro/1.0'], rtol=1e-6)
  np.testing.assert_allclose(result['iou'],
                             np.diag(ref) / (ref.sum(0) + ref.sum(1) - np.diag(ref)))


def test_losses_match_torch_and_smp():
  logits = jnp.asarray(FIXTURE['logits'])
  ce = losses.pixel_cross_entropy(logits, FIXTURE['target'], FIXTURE['class_weights'], IGNORE)
  np.testing.assert_allclose(ce, FIXTURE['ce/weighted_ignore'], rtol=1e-5)
  np.testing.assert_allclose(losses.pixel_cross_entropy(logits, FIXTURE['target_full']),
                             FIXTURE['ce/plain'], rtol=1e-5)
  np.testing.assert_allclose(losses.soft_dice_loss(logits, FIXTURE['target_full']),
                             FIXTURE['dice_loss/None'], rtol=1e-5)
  np.testing.assert_allclose(losses.soft_dice_loss(logits, FIXTURE['target'], IGNORE),
                             FIXTURE['dice_loss/255'], rtol=1e-5)
  both = losses.dice_ce_loss(logits, FIXTURE['target'], 0.5, 2.0, FIXTURE['class_weights'],
                             IGNORE)
  np.testing.assert_allclose(both, 2.0 * FIXTURE['ce/weighted_ignore']
                             + 0.5 * FIXTURE['dice_loss/255'], rtol=1e-5)
  # Pixel weights: doubling one pixel's weight = counting it twice.
  labels = jnp.asarray(FIXTURE['target_full'])
  weights = jnp.ones(labels.shape).at[0, 0, 0].set(2.0)
  nll = -jax.nn.log_softmax(logits, -1)
  nll = jnp.take_along_axis(nll, labels[..., None], -1)[..., 0]
  expected = (nll.sum() + nll[0, 0, 0]) / (nll.size + 1)
  np.testing.assert_allclose(losses.pixel_cross_entropy(logits, labels, pixel_weights=weights),
                             expected, rtol=1e-5)
  g = jax.grad(lambda z: losses.dice_ce_loss(z, FIXTURE['target'], ignore_index=IGNORE))(logits)
  ignored = FIXTURE['target'] == IGNORE
  assert np.abs(np.asarray(g)[ignored]).max() == 0.0 and np.abs(np.asarray(g)).max() > 0


def test_border_weight_map_by_hand():
  """Two cells with a 2-px gap (columns 5, 6): gap pixel (4, 5) is 1 px from cell 1 and 2 px
  from cell 2 (pixel centres), so w = w_bg + w0 exp(-(1 + 2)^2 / (2 sigma^2)); cells: w_c;
  one cell only: no border term, the balanced weight P / (2 P_bg)."""
  inst = np.zeros((9, 12), np.int32)
  inst[2:7, 1:5] = 1
  inst[2:7, 7:11] = 2
  w = losses.border_weight_map(inst, w0=10.0, sigma=5.0, class_weights=np.array([1.0, 3.0]))
  np.testing.assert_allclose(w[4, 5], 1.0 + 10.0 * np.exp(-9.0 / 50.0), rtol=1e-6)
  np.testing.assert_allclose(w[inst > 0], 3.0)
  d1, d2 = np.hypot(2, 1), np.hypot(2, 7)   # corner pixel (0, 0): to (2, 1) and (2, 7)
  np.testing.assert_allclose(w[0, 0], 1.0 + 10.0 * np.exp(-(d1 + d2) ** 2 / 50.0), rtol=1e-6)
  one = (inst == 1).astype(np.int32)
  np.testing.assert_allclose(losses.border_weight_map(one)[one == 0],
                             one.size / (2 * (one == 0).sum()), rtol=1e-6)
  with pytest.raises(ValueError, match='label value 7 at index \\(1, 2\\)'):
    losses.check_labels(np.array([[0, 1, 1], [0, 0, 7]]).reshape(2, 3), 3, source='mask.png')
  losses.check_labels(np.array([0, 2, 255]), 3, ignore_index=255)


# ---------------------------------------------------------------- instances, data, task

def test_instance_report_counts_splits_merges_misses_by_hand():
  truth = np.zeros((12, 20), np.int32)
  truth[1:5, 1:4], truth[1:5, 5:8] = 1, 2        # two touching-ish nuclei ...
  truth[7:11, 1:9] = 3                          # ... one long nucleus ...
  truth[7:10, 14:17] = 4                        # ... and one the prediction misses
  pred = np.zeros_like(truth, bool)
  pred[1:5, 1:8] = True                         # 1 and 2 fused into one blob
  pred[7:11, 1:4] = pred[7:11, 6:9] = True      # 3 cut in two pieces
  pred[1:3, 14:17] = True                       # a blob on background
  report = metrics.instance_report(pred, truth)
  assert report == dict(true_objects=4, predicted_objects=4, matched=0, merged=1,
                        merged_objects=2, split=1, missed=2, spurious=1)
  report = metrics.instance_report(truth > 0, truth)
  assert report['matched'] == 4 and report['split'] == report['merged'] == report['missed'] == 0


def _tiff(pixels: np.ndarray, order: str, rows_per_strip: int) -> bytes:
  """A minimal uncompressed greyscale TIFF written by hand (independent of the reader)."""
  import struct
  h, w = pixels.shape
  body = pixels.astype(pixels.dtype.newbyteorder(order)).tobytes()
  strip = rows_per_strip * w * pixels.itemsize
  offsets = [8 + i for i in range(0, len(body), strip)]
  counts = [min(strip, len(body) - i) for i in range(0, len(body), strip)]
  ifd = 8 + len(body)
  extra = ifd + 2 + 12 * 8 + 4
  entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, pixels.itemsize * 8), (259, 3, 1, 1),
             (262, 3, 1, 1), (273, 4, len(offsets), extra), (277, 3, 1, 1),
             (279, 4, len(counts), extra + 4 * len(offsets))]
  head = (b'II' if order == '<' else b'MM') + struct.pack(order + 'HI', 42, ifd)
  out = head + body + struct.pack(order + 'H', len(entries))
  for tag, kind, n, value in entries:
    packed = (struct.pack(order + 'HH', value, 0) if kind == 3 and n == 1
              else struct.pack(order + 'I', value))
    out += struct.pack(order + 'HHI', tag, kind, n) + packed
  out += struct.pack(order + 'I', 0)
  return out + struct.pack(order + f'{len(offsets)}I', *offsets) + struct.pack(
      order + f'{len(counts)}I', *counts)


def test_tiff_reader_on_hand_written_files_and_refusals():
  from cnn_jax.data import nuclei
  pixels = np.arange(35, dtype=np.uint16).reshape(5, 7) * 1000
  for order in '<>':
    np.testing.assert_array_equal(nuclei.read_tiff(_tiff(pixels, order, 2)), pixels)
  data = bytearray(_tiff(pixels, '<', 5))
  data[8 + 35 * 2 + 2 + 12 * 3 + 8:8 + 35 * 2 + 2 + 12 * 3 + 10] = (5).to_bytes(2, 'little')
  with pytest.raises(ValueError, match='compression 5'):
    nuclei.read_tiff(bytes(data), 'x.tif')
  with pytest.raises(ValueError, match='not a TIFF'):
    nuclei.read_tiff(b'\x89PNG....', 'x.png')


@pytest.fixture(scope='module')
def nuclei_tile():
  """The real tile from the stardist wheel (cached after one download); skipped only when
  the package registry cannot be reached."""
  from cnn_jax.data import nuclei
  return fetched_or_skip(nuclei.load_tile)


def test_nuclei_tile_quadrants_and_crops(nuclei_tile):
  from cnn_jax.data import nuclei
  image, inst = nuclei_tile['image'], nuclei_tile['instances']
  assert image.shape == inst.shape == (512, 512) and image.dtype == np.float32
  assert 0.0 <= image.min() and image.max() == 1.0
  assert len(np.unique(inst)) - 1 == 125                  # the design doc's 125 nuclei
  assert 0.15 < (inst > 0).mean() < 0.25
  rows, cols = nuclei.quadrant_slices(3)
  for top, left in nuclei.crop_positions(200, 64, 3):
    assert top + 64 <= rows.start or left + 64 <= cols.start   # never in the test quadrant
  with pytest.raises(ValueError, match='test_quadrant must be'):
    nuclei.quadrant_slices(4)


@pytest.mark.slow
def test_segmentation_task_smoke(tmp_path, nuclei_tile):
  from conftest import load_config
  from cnn_jax.tasks import segmentation
  config = load_config('unet_nuclei')
  result = segmentation.run(config, str(tmp_path))
  ev = result.eval
  assert ev['count'] == 1 and ev['confusion'].sum() == 256 * 256
  assert 0.0 <= ev['miou'] <= 1.0 and 0.0 <= ev['foreground_dice'] <= 1.0
  assert (tmp_path / 'segmentation.png').stat().st_size > 10_000
  assert (tmp_path / 'instances.json').exists()


@pytest.fixture(scope='module')
def canvas_task():
  """The unet_canvas smoke task and 6 small test canvases (1-2 digits, 32x32)."""
  from conftest import load_config
  from cnn_jax.data import canvases
  from cnn_jax.tasks import segmentation
  task = segmentation.Segmentation(load_config('unet_canvas'))
  cfg = canvases.CanvasConfig(size=(32, 32), objects=(1, 2), max_boxes=2, scale=(0.5, 1.0))
  return task, canvases.generate(cfg, 'test', num=6, seed=3)


def test_canvas_pixels_take_their_digit_class(canvas_task):
  task, examples = canvas_task
  batch = task.prepare(examples)
  labels = batch['target'][..., 0].astype(int)
  for b in range(6):
    for n in range(int(examples['count'][b])):
      ink = examples['instances'][b] == n + 1
      assert ink.any() and (labels[b][ink] == examples['labels'][b, n] + 1).all()
    assert (labels[b][examples['instances'][b] == 0] == 0).all()
  np.testing.assert_array_equal(batch['target'][..., 1], 1.0)   # no border weights here


def test_bad_masks_are_named(canvas_task):
  """A mask whose size differs from its image, and a label >= num_classes (11 here): errors
  naming the sizes / the value, where it is and the data."""
  task, _ = canvas_task
  with pytest.raises(ValueError, match='Mask size \\(8, 8\\) differs from image size \\(8, 9\\)'):
    task.prepare({'image': np.zeros((1, 8, 9, 1), np.float32),
                  'segmentation': np.zeros((1, 8, 8), np.int32)})
  with pytest.raises(ValueError, match='canvases labels: label value 11 at index \\(0, 1, 1\\)'):
    task.prepare({'image': np.zeros((1, 2, 2, 1), np.float32),
                  'segmentation': np.array([[[0, 1], [1, 11]]])})


def test_canvas_class_weights_by_hand(canvas_task):
  """unet_canvas weighs CE by class, w_c = sqrt(P / (K P_c)) from the train pixels (the fix
  of its background-everywhere bug: see the next test)."""
  from cnn_jax.data import canvases
  task, examples = canvas_task
  assert task.config.loss.class_balance == 'sqrt'
  weights = np.array(task.train_class_weights(canvases.CanvasSplit(examples)))
  labels = task.labels(examples)
  counts = np.bincount(labels.ravel(), minlength=11)
  expected = np.where(counts > 0, np.sqrt(labels.size / (11 * np.maximum(counts, 1))), 0.0)
  np.testing.assert_allclose(weights, expected, rtol=1e-6)
  assert weights[0] < 0.5 < weights[counts > 0][1:].min()   # background weighs least
  task.config.loss.class_weights = (1.0, 2.0)
  try:
    with pytest.raises(ValueError, match='class_weights has 2 entries; canvases has 11'):
      task.train_class_weights(canvases.CanvasSplit(examples))
  finally:
    task.config.loss.class_weights = ()


@pytest.mark.slow
def test_canvas_digits_not_drowned_by_background(canvas_task):
  """Regression: unet_canvas once predicted background everywhere (mIoU 0.09). ~93% of a
  canvas's pixels are background and each digit class has ~0.7%: with unweighted CE a pixel
  whose digit is still uncertain splits its mass over 10 digits, so background wins the
  argmax and the digit gradient is swamped. With the config's class weights 40 steps on
  these 6 canvases already mark most ink as some digit (unweighted CE: 27% of it, measured,
  and this test fails)."""
  import optax
  from cnn_jax.data import canvases
  from cnn_jax.tasks import _supervised
  task, examples = canvas_task
  task.class_weights = task.train_class_weights(canvases.CanvasSplit(examples))
  model = _supervised.build_model(task.config, 11)
  batch = jax.tree.map(jnp.asarray, task.prepare(examples))
  variables = model.init(jax.random.key(0), batch['image'][:1])
  params, state = variables['params'], {'batch_stats': variables['batch_stats']}
  loss_fn = _supervised.make_loss_fn(task, model)
  tx = optax.adam(1e-2)

  @jax.jit
  def step(params, state, opt):
    (_, (state, _)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, state, batch, jax.random.key(0))
    updates, opt = tx.update(grads, opt, params)
    return optax.apply_updates(params, updates), state, opt

  opt = tx.init(params)
  for _ in range(40):
    params, state, opt = step(params, state, opt)
  pred = np.asarray(model.apply({'params': params, **state}, batch['image']).argmax(-1))
  ink = task.labels(examples) > 0
  assert (pred[ink] > 0).mean() > 0.6 and (pred[~ink] == 0).mean() > 0.9
