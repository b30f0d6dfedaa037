"""Localization head, the p_c-masked loss (both forms), metrics and NME against hand-computed
numpy formulas; box and class gradients exactly zero for p_c = 0 examples."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.losses import localization as loss_lib
from cnn_jax.metrics import localization as metrics
from cnn_jax.models.localization import LocalizationNet
from cnn_jax.ops import localization as loc

RNG = np.random.default_rng(0)
Y = RNG.normal(size=(6, 8)).astype(np.float32)            # 3 classes
PRESENT = np.array([1, 0, 1, 0, 1, 1], bool)
BOX = np.array([[.5, .5, .4, .3], [9, 9, 9, 9], [.2, .7, .1, .2], [0, 0, 0, 0],
                [.6, .4, .5, .5], [.3, .3, .2, .4]], np.float32)
LABEL = np.array([2, 7, 0, -1, 1, 2], np.int32)            # absent rows: garbage on purpose


def _sig(x):
  return 1 / (1 + np.exp(-x.astype(np.float64)))


def _softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize('form, box', [('teaching', 'l2'), ('practical', 'l2'),
                                       ('practical', 'smooth_l1'), ('practical', 'giou')])
def test_box_and_class_gradients_are_exactly_zero_without_an_object(form, box):
  def f(y):
    return loss_lib.localization_loss(y, PRESENT, BOX, LABEL, form, box)[0]
  g = np.asarray(jax.grad(f)(jnp.asarray(Y)))
  assert np.all(g[~PRESENT, 1:] == 0.0)                    # exactly, not approximately
  assert np.all(g[:, 0] != 0) and np.all(np.abs(g[PRESENT, 1:]).sum(1) > 0)
  assert np.isfinite(g).all()


def test_teaching_form_is_the_course_formula():
  terms = loss_lib.localization_terms(Y, PRESENT, BOX, LABEL, 'teaching')
  pc, b, c = _sig(Y[:, 0]), _sig(Y[:, 1:5]), _softmax(Y[:, 5:].astype(np.float64))
  for i in range(6):
    want = (pc[i] - PRESENT[i]) ** 2
    if PRESENT[i]:
      want += np.sum((b[i] - BOX[i]) ** 2) + np.sum((c[i] - np.eye(3)[LABEL[i]]) ** 2)
    got = terms['p_c'][i] + terms['box'][i] + terms['class'][i]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_practical_form_and_reductions():
  loss, parts = loss_lib.localization_loss(Y, PRESENT, BOX, LABEL, 'practical', 'smooth_l1',
                                           box_weight=2.0, class_weight=0.5, beta=0.1)
  pc, b = _sig(Y[:, 0]), _sig(Y[:, 1:5])
  bce = -(PRESENT * np.log(pc) + (1 - PRESENT) * np.log(1 - pc))
  d = np.abs(b - BOX)
  sl1 = np.where(d < 0.1, 0.5 * d ** 2 / 0.1, d - 0.05).sum(1)
  ce = -np.log(_softmax(Y[:, 5:].astype(np.float64))[np.arange(6), np.where(PRESENT, LABEL, 0)])
  k = PRESENT.sum()
  np.testing.assert_allclose(parts['p_c'], bce.mean(), rtol=1e-5)
  np.testing.assert_allclose(parts['box'], sl1[PRESENT].sum() / k, rtol=1e-5)
  np.testing.assert_allclose(parts['class'], ce[PRESENT].sum() / k, rtol=1e-5)
  np.testing.assert_allclose(loss, bce.mean() + 2 * sl1[PRESENT].sum() / k
                             + 0.5 * ce[PRESENT].sum() / k, rtol=1e-5)
  _, batch = loss_lib.localization_loss(Y, PRESENT, BOX, LABEL, normalize='batch')
  np.testing.assert_allclose(batch['box'], ((_sig(Y[:, 1:5]) - BOX) ** 2).sum(1)[PRESENT].sum() / 6,
                             rtol=1e-5)


def test_giou_term_hand_case():
  # unit-square boxes: centre (0.5, 0.5) 0.4 x 0.4 vs centre (0.7, 0.5) 0.4 x 0.4
  a, b = np.array([[.5, .5, .4, .4]]), np.array([[.7, .5, .4, .4]])
  inter, union, enclosing = 0.2 * 0.4, 2 * 0.16 - 0.08, 0.6 * 0.4
  giou = inter / union - (enclosing - union) / enclosing
  np.testing.assert_allclose(loss_lib.box_term(a, b, 'giou'), [1 - giou], rtol=1e-5)


def test_box_conversion_and_target_encoding():
  xyxy = np.array([[10., 20., 30., 60.]])
  box = loc.xyxy_to_box(xyxy, (80, 40))            # H = 80, W = 40
  np.testing.assert_allclose(box, [[20 / 40, 40 / 80, 40 / 80, 20 / 40]])
  np.testing.assert_allclose(loc.box_to_xyxy(box, (80, 40)), xyxy, rtol=1e-6)
  t = loc.encode(np.array([[[10., 20., 30., 60.]], [[0, 0, 0, 0]]]), np.array([[4], [-1]]),
                 np.array([[True], [False]]), (80, 40))
  assert list(np.asarray(t['present'])) == [True, False] and list(np.asarray(t['label'])) == [4, 0]


def _logit(p):
  return np.log(p / (1 - p))


def test_metrics_hand_case():
  size = (64, 64)
  true = np.array([[.5, .5, .5, .5]] * 4, np.float32)
  pred_box = np.array([[.5, .5, .5, .5], [.75, .5, .5, .5], [.5, .5, .5, .5], [.5, .5, .5, .5]])
  y = np.zeros((4, 5 + 3), np.float32)
  y[:, 0] = [5, 5, 5, 5]
  y[3, 0] = -5                                   # says "no object"
  y[:, 1:5] = _logit(pred_box)
  y[:, 5 + 1] = 3                                # predicts class 1
  label = np.array([1, 1, 2, 0])
  present = np.array([1, 1, 1, 0], bool)
  m = metrics.localization_per_example(y, present, true, label, size)
  # row 1: shifted by half a width: IoU = (0.25 * 0.5) / (2 * 0.25 - 0.125) = 1/3
  np.testing.assert_allclose(m['iou'], [1, 1 / 3, 1, 0], rtol=1e-5)
  np.testing.assert_array_equal(m['localized'], [1, 0, 0, 0])
  np.testing.assert_array_equal(m['correct'], [1, 0, 0, 1])     # row 3: absent and said so
  s = metrics.summarize({k: v.mean() for k, v in m.items()})
  np.testing.assert_allclose([s['localization_accuracy'], s['pc_accuracy'], s['class_accuracy'],
                              s['mean_iou']], [0.5, 1.0, 2 / 3, (2 + 1 / 3) / 3], rtol=1e-5)


def test_nme_hand_case():
  target = np.array([[[0., 0.], [3., 4.]]], np.float32)
  pred = np.array([[[3., 4.], [3., 4.]]], np.float32)
  diag = metrics.box_diagonal(np.array([[0., 0., 6., 8.]]))
  np.testing.assert_allclose(diag, [10.0])
  np.testing.assert_allclose(metrics.nme_per_example(pred, target, diag), [(5 + 0) / 2 / 10])
  np.testing.assert_allclose(metrics.nme_per_example(pred, target, diag,
                                                     np.array([[False, True]])), [0.0])
  np.testing.assert_allclose(metrics.inter_point_distance(target, 0, 1), [5.0])
  valid = np.array([[True, False]])
  np.testing.assert_allclose(loss_lib.landmark_loss(pred, target, valid), 25.0)


def test_landmark_gradient_is_zero_for_invalid_points():
  target = jnp.asarray(RNG.random((2, 5, 2)), jnp.float32)
  valid = jnp.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0]], bool)
  g = jax.grad(lambda p: loss_lib.landmark_loss(p, target, valid))(jnp.zeros((2, 5, 2)))
  assert np.all(np.asarray(g)[~np.asarray(valid)] == 0) and np.all(np.asarray(g)[0, [0, 1, 3]] != 0)


@pytest.mark.slow
def test_head_shapes_and_errors():
  net = LocalizationNet(num_classes=3, num_landmarks=5, widths=(4, 8), hidden=16)
  x = jnp.zeros((2, 16, 16, 1))
  variables = net.init(jax.random.key(0), x)
  out = net.apply(variables, x)
  assert out['y'].shape == (2, 8) and out['landmarks'].shape == (2, 10)
  assert loc.decode_landmarks(out['landmarks']).shape == (2, 5, 2)
  with pytest.raises(ValueError, match=r'images \[N, H, W, C\]; got shape \(16, 16, 1\)'):
    net.apply(variables, x[0])
  with pytest.raises(ValueError, match='localize=True or num_landmarks'):
    LocalizationNet(localize=False).init(jax.random.key(0), x)
  with pytest.raises(ValueError, match='config.loss.form'):
    loss_lib.localization_loss(Y, PRESENT, BOX, LABEL, form='l2')
  with pytest.raises(ValueError, match='config.loss.box'):
    loss_lib.localization_loss(Y, PRESENT, BOX, LABEL, box_loss='iou3')


def _config(name):
  from conftest import load_config
  return load_config(name)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['localization_canvas', 'landmarks_canvas'])
def test_task_smoke_runs(name, tmp_path):
  from cnn_jax.tasks import localization as task
  config = _config(name)
  config.data.update(num_train=32, num_test=16)
  config.train.update(steps=2, eval_every=2, checkpoint_every=2, log_every=1)
  result = task.run(config, str(tmp_path))
  assert int(result.state.step) == 2
  if name == 'localization_canvas':
    assert 0 <= float(result.eval['localization_accuracy']) <= 1
    assert (tmp_path / 'localization.png').exists()
  else:
    assert float(result.eval['nme_box_diagonal']) > 0 and int(result.eval['count']) == 16
    assert (tmp_path / 'landmarks.png').exists()


def test_task_config_errors():
  from cnn_jax.tasks import localization as task
  config = _config('localization_canvas')
  config.mode = 'boxes'
  with pytest.raises(ValueError, match='config.mode'):
    task.Localization(config)
  config.mode = 'landmarks'
  with pytest.raises(ValueError, match=r'objects = \(1, 1\)'):
    task.Localization(config)
  config.mode, config.data.canvas.objects = 'box', (0, 3)
  with pytest.raises(ValueError, match=r'config.data.canvas.objects must be'):
    task.Localization(config)


def test_head_on_a_registered_headless_backbone():
  from cnn_jax import models
  net = LocalizationNet(num_classes=10, backbone='lenet5', hidden=0)
  x = jnp.zeros((2, 32, 32, 1))
  variables = net.init(jax.random.key(0), x)
  out = net.apply(variables, x)
  assert out['y'].shape == (2, 15)
  # the backbone's variables are LeNet-5's own, minus its classifier
  lenet = models.create('lenet5', num_classes=None).init(jax.random.key(0), x)
  assert (jax.tree.map(jnp.shape, variables['params']['features'])
          == jax.tree.map(jnp.shape, lenet['params']))


def test_flip_augmentation_swaps_the_left_right_landmarks():
  """ops.augment's flip_lr with the task's flip_pairs: the moved points equal the keypoints
  re-derived from the mirrored digit; without flip_pairs 'left' and 'right' come out swapped."""
  from cnn_jax.data import canvases
  from cnn_jax.ops.augment import make_batch_augment
  from cnn_jax.tasks.localization import LEFT, RIGHT
  d = canvases.generate(canvases.CanvasConfig(size=(32, 32), objects=(1, 1), scale=(0.6, 1.0)),
                        'test', num=6, seed=2)
  sample = {'image': d['image'].astype(np.float32) / 255, 'points': d['keypoints'][:, 0],
            'mask': d['instances']}
  flipped = make_batch_augment('flip_lr(p=1.0)', flip_pairs=((LEFT, RIGHT),))(
      jax.random.key(0), sample)
  naive = make_batch_augment('flip_lr(p=1.0)')(jax.random.key(0), sample)
  for b in range(6):
    mask, image = np.asarray(flipped['mask'][b]) == 1, np.asarray(flipped['image'][b, ..., 0])
    again = canvases.keypoints_from_mask(mask, image)
    np.testing.assert_allclose(flipped['points'][b], again, atol=0.06)
    swapped = np.asarray(naive['points'][b])[[LEFT, RIGHT]]
    np.testing.assert_allclose(swapped, again[[RIGHT, LEFT]], atol=0.06)
