"""ops.boxes and losses.boxes: torchvision parity, defined values on degenerate boxes, properties."""
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cnn_jax.losses import boxes as box_losses
from cnn_jax.ops import boxes as B

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_boxes.npz')
MATRICES = {'box_iou': B.box_iou, 'generalized_box_iou': B.generalized_box_iou,
            'distance_box_iou': B.distance_box_iou, 'complete_box_iou': B.complete_box_iou}
LOSSES = {'giou': box_losses.generalized_box_iou_loss, 'diou': box_losses.distance_box_iou_loss,
          'ciou': box_losses.complete_box_iou_loss}


@pytest.mark.parametrize('name', sorted(MATRICES))
def test_iou_matrices_equal_torchvision(name):
  got = MATRICES[name](FIXTURE['iou_a'], FIXTURE['iou_b'])
  assert got.shape == FIXTURE[name].shape
  np.testing.assert_allclose(got, FIXTURE[name], atol=2e-7)


@jax.jit
def _losses_and_grads(a, b):
  """All three losses, their means and gradients in one compile."""
  out = {}
  for name, fn in LOSSES.items():
    out[name] = fn(a, b)
    out[name + '_mean'] = fn(a, b, reduction='mean')
    out[name + '_grad'] = jax.grad(lambda x, fn=fn: fn(x, b, reduction='sum'))(a)
  return out


def test_losses_and_gradients_equal_torchvision():
  got = _losses_and_grads(FIXTURE['loss_a'], FIXTURE['loss_b'])
  for name in LOSSES:
    np.testing.assert_allclose(got[name], FIXTURE[f'{name}_loss'], atol=3e-7, err_msg=name)
    np.testing.assert_allclose(got[name + '_grad'], FIXTURE[f'{name}_loss_grad'], atol=1e-7,
                               err_msg=name)
    np.testing.assert_allclose(got[name + '_mean'], FIXTURE[f'{name}_loss'].mean(), rtol=1e-6)


def test_course_iou_example():
  # Two 2x2 squares overlapping in a 1x1 square: IoU = 1 / (4 + 4 - 1) = 1/7.
  a = jnp.array([[0., 0., 2., 2.]])
  b = jnp.array([[1., 1., 3., 3.], [0., 0., 2., 2.], [2., 0., 4., 2.], [0., 0., 4., 4.]])
  np.testing.assert_allclose(B.box_iou(a, b), [[1 / 7, 1.0, 0.0, 0.25]], rtol=1e-6)
  assert B.box_iou(a, b).shape == (1, 4)
  # GIoU of disjoint boxes is negative: (2,0,4,2) touches, enclosing 4x2 = union -> 0.
  np.testing.assert_allclose(B.generalized_box_iou(a, b[2:3]), [[0.0]], atol=1e-7)
  far = jnp.array([[4., 0., 6., 2.]])
  np.testing.assert_allclose(B.generalized_box_iou(a, far), [[-(12 - 8) / 12]], rtol=1e-6)


@jax.jit
def _degenerate_values(good, bad):
  out = {'area': B.box_area(bad), 'matrix': B.box_iou(bad, bad)}
  for kind in ('iou', 'giou', 'diou', 'ciou'):
    out[kind + '_good'] = B.paired_iou(bad, good, kind)
    out[kind + '_self'] = B.paired_iou(bad, bad, kind)
  for name, fn in {**LOSSES, 'iou': box_losses.iou_loss}.items():
    out[name + '_grad_good'] = jax.grad(lambda x, fn=fn: fn(x, bad, reduction='sum'))(
        jnp.broadcast_to(good, bad.shape))
    out[name + '_grad_self'] = jax.grad(lambda x, fn=fn: fn(x, x, reduction='sum'))(bad)
  return out


def test_degenerate_boxes_are_defined_never_nan():
  good = jnp.array([0., 0., 2., 2.])
  bad = jnp.array([[1., 1., 1., 1.],          # a point
                   [1., 0., 1., 3.],          # zero width
                   [3., 3., 1., 1.],          # x2 < x1 and y2 < y1
                   [jnp.nan, 0., 1., 1.],     # NaN coordinate
                   [0., 0., jnp.inf, 1.]])    # infinite coordinate
  got = _degenerate_values(good, bad)
  for name, value in got.items():
    assert np.all(np.isfinite(value)), name
  np.testing.assert_array_equal(got['area'], np.zeros(5))
  # Defined values: IoU 0 with anything (the union of two empty boxes is empty: 0, not 0/0).
  np.testing.assert_array_equal(got['iou_good'], np.zeros(5))
  np.testing.assert_array_equal(got['iou_self'], np.zeros(5))
  np.testing.assert_array_equal(got['matrix'], np.zeros((5, 5)))


def test_conversions_round_trip_and_values():
  xyxy = jnp.array([[1., 2., 5., 10.], [0., 0., 3., 3.]])
  np.testing.assert_allclose(B.convert(xyxy, 'xyxy', 'xywh'), [[1, 2, 4, 8], [0, 0, 3, 3]])
  np.testing.assert_allclose(B.convert(xyxy, 'xyxy', 'cxcywh'), [[3, 6, 4, 8], [1.5, 1.5, 3, 3]])
  for a in B.FORMATS:
    for b in B.FORMATS:
      there = B.convert(B.convert(xyxy, 'xyxy', a), a, b)
      np.testing.assert_allclose(B.convert(there, b, 'xyxy'), xyxy, atol=1e-6)
  with pytest.raises(ValueError, match='formats'):
    B.convert(xyxy, 'xyxy', 'yxyx')


def test_clip_and_small_box_mask():
  np.testing.assert_array_equal(B.clip_boxes(FIXTURE['clip_in'], (90, 110)), FIXTURE['clip_out'])
  boxes = jnp.array([[0., 0., 4., 4.], [0., 0., 0.5, 4.], [0., 0., 4., 1.], [jnp.nan, 0, 9, 9]])
  np.testing.assert_array_equal(B.remove_small_boxes(boxes, 1.0), [True, False, True, False])


def test_box_coder_equals_torchvision():
  w = (10.0, 10.0, 5.0, 5.0)
  enc = B.encode(FIXTURE['coder_gts'], FIXTURE['coder_anchors'], w)
  np.testing.assert_allclose(enc, FIXTURE['coder_encoded'], rtol=1e-5, atol=1e-5)
  dec = B.decode(FIXTURE['coder_deltas'], FIXTURE['coder_anchors'], w)
  np.testing.assert_allclose(dec, FIXTURE['coder_decoded'], rtol=1e-6, atol=1e-4)
  back = B.decode(enc, FIXTURE['coder_anchors'], w)
  np.testing.assert_allclose(back, FIXTURE['coder_gts'], atol=1e-3)
  # An empty target box stays finite.
  assert np.isfinite(B.encode(jnp.zeros((1, 4)), FIXTURE['coder_anchors'][:1])).all()


def test_yolo_cells_at_cell_borders():
  # Centres on, one ulp below and one ulp above every border: the exact floor(centre / stride).
  for stride in (3, 7, 24):
    borders = np.arange(1, 300, dtype=np.float32) * stride
    centres = np.concatenate([np.nextafter(borders, np.float32(0)), borders,
                              np.nextafter(borders, np.float32(1e9))])
    cells = jax.jit(B.yolo_cells, static_argnums=1)(np.repeat(centres[:, None], 4, 1), stride)
    expected = np.floor(centres.astype(np.float64) / stride).astype(np.int32)
    np.testing.assert_array_equal(cells, np.stack([expected, expected], 1), err_msg=f'{stride}')


def test_yolo_encoding_round_trip():
  anchors = jnp.array([[40., 60.], [120., 90.]])
  boxes = jnp.array([[10., 20., 50., 90.], [200., 150., 330., 230.]])
  cells = B.yolo_cells(boxes, 32)
  np.testing.assert_array_equal(cells, [[0, 1], [8, 5]])
  t = B.yolo_encode(boxes, cells, anchors, 32)
  np.testing.assert_allclose(B.yolo_decode(t, cells, anchors, 32), boxes, atol=1e-3)
  # t = 0: the centre in the middle of its cell, the anchor's own size.
  np.testing.assert_allclose(B.yolo_decode(jnp.zeros(4), jnp.array([2, 3]), anchors[0], 32),
                             [80 - 20, 112 - 30, 80 + 20, 112 + 30])


def test_smooth_l1():
  d = jnp.array([0.0, 0.05, 0.5, -2.0])
  beta = 1 / 9
  want = [0.0, 0.5 * 0.05 ** 2 / beta, 0.5 - 0.5 * beta, 2.0 - 0.5 * beta]
  np.testing.assert_allclose(box_losses.smooth_l1_loss(d, 0.0), want, rtol=1e-6)
  np.testing.assert_allclose(box_losses.smooth_l1_loss(d, 0.0, beta=0.0), np.abs(d))


_coord = st.floats(-50, 150, width=32, allow_subnormal=False)
_box = st.tuples(_coord, _coord, st.floats(0, 80, width=32), st.floats(0, 80, width=32))


@jax.jit
def _all_kinds(a, b):
  return {k: B.paired_iou(a[:, None], b[None], k) for k in ('iou', 'giou', 'diou', 'ciou')}


def _as_xyxy(raw):
  raw = np.asarray(raw, np.float32).reshape(-1, 4)
  return np.concatenate([raw[:, :2], raw[:, :2] + raw[:, 2:]], 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(_box, min_size=6, max_size=6), st.lists(_box, min_size=6, max_size=6))
def test_iou_properties(a, b):
  a, b = _as_xyxy(a), _as_xyxy(b)
  ab, ba = _all_kinds(a, b), _all_kinds(b, a)
  for k in ab:
    assert np.all(np.isfinite(ab[k]))
    np.testing.assert_allclose(ab[k], np.asarray(ba[k]).T, atol=1e-6)  # symmetric
  iou = np.asarray(ab['iou'])
  assert np.all((iou >= 0) & (iou <= 1))
  assert np.all(ab['giou'] <= iou + 1e-6) and np.all(ab['giou'] >= -1 - 1e-6)
  assert np.all(ab['diou'] <= iou + 1e-6) and np.all(ab['ciou'] <= ab['diou'] + 1e-6)
  # A box with positive area has IoU 1 with itself.
  self_iou = np.diag(_all_kinds(a, a)['iou'])
  positive = B.box_area(a) > 0
  np.testing.assert_allclose(self_iou[positive], 1.0, rtol=1e-6)


def test_jit_vmap_grad():
  a = FIXTURE['iou_a'][:8]
  b = FIXTURE['iou_b'][:5]
  batched = jax.jit(jax.vmap(B.box_iou))(np.stack([a, a + 1]), np.stack([b, b + 1]))
  np.testing.assert_allclose(batched[0], FIXTURE['box_iou'][:8, :5], atol=1e-6)
  np.testing.assert_allclose(batched[1], FIXTURE['box_iou'][:8, :5], atol=1e-5)
  g = jax.jit(jax.grad(lambda x: B.box_iou(x, b).sum()))(a)
  assert g.shape == a.shape and np.all(np.isfinite(g))
