"""Detection canvases: every box, mask and keypoint is re-derived here from the pasted pixels
by a plain per-object computation (np.nonzero), train/test digits are disjoint, the overlap
policy holds, flips swap the named keypoints, and impossible requests name their limit."""
import hashlib

import numpy as np
import pytest

from cnn_jax.data import canvases, sources

CLEAN = canvases.CanvasConfig(size=(48, 48), objects=(0, 3), max_boxes=4, scale=(0.6, 1.2))


@pytest.fixture(scope='module')
def clean():
  return canvases.generate(CLEAN, 'train', num=200, seed=3)


def _reference_keypoints(mask, weight):
  """Hand formula of the module docstring, one point at a time."""
  ys, xs = np.nonzero(mask)
  t, b, l, r = ys.min(), ys.max(), xs.min(), xs.max()
  w = weight[ys, xs].astype(np.float64)
  return np.array([[xs[ys == t].mean() + .5, t + .5], [xs[ys == b].mean() + .5, b + .5],
                   [l + .5, ys[xs == l].mean() + .5], [r + .5, ys[xs == r].mean() + .5],
                   [(w * xs).sum() / w.sum() + .5, (w * ys).sum() / w.sum() + .5]])


def test_shapes_padding_and_determinism(clean):
  b, n = 200, 4
  assert clean['image'].shape == (b, 48, 48, 1) and clean['image'].dtype == np.uint8
  assert clean['boxes'].shape == (b, n, 4) and clean['keypoints'].shape == (b, n, 5, 2)
  assert clean['instances'].shape == (b, 48, 48)
  np.testing.assert_array_equal(clean['valid'].sum(1), clean['count'])
  assert set(np.unique(clean['count'])) == {0, 1, 2, 3}          # 0..K objects all occur
  empty = ~clean['valid']
  assert (clean['labels'][empty] == -1).all() and (clean['boxes'][empty] == 0).all()
  assert (clean['source'][empty] == -1).all() and (clean['keypoints'][empty] == 0).all()
  again = canvases.generate(CLEAN, 'train', num=200, seed=3)
  for k in clean:
    np.testing.assert_array_equal(clean[k], again[k])
  other = canvases.generate(CLEAN, 'train', num=200, seed=4)
  assert not np.array_equal(clean['image'], other['image'])


def test_boxes_masks_keypoints_are_the_pasted_ink(clean):
  """No clutter and disjoint boxes: object n's ink is exactly instances == n + 1; its box is
  that mask's tight box (x2 = last column + 1) and its keypoints the hand formula."""
  image = clean['image'][..., 0].astype(np.float64) / 255
  checked = 0
  for b in range(len(image)):
    for n in range(clean['count'][b]):
      mask = clean['instances'][b] == n + 1
      ys, xs = np.nonzero(mask)
      np.testing.assert_array_equal(clean['boxes'][b, n],
                                    [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
      # the mask is the ink: pixels >= INK inside the box, below it outside every object
      x1, y1, x2, y2 = clean['boxes'][b, n].astype(int)
      # (uint8 rounding blurs the threshold by half a level: pixels that close are skipped)
      crop = image[b, y1:y2, x1:x2]
      clear = np.abs(crop - canvases.INK) > 0.5 / 255
      np.testing.assert_array_equal((crop >= canvases.INK)[clear], mask[y1:y2, x1:x2][clear])
      # image intensities are the pasted ones rounded to uint8: the centroid moves < 0.05 px
      np.testing.assert_allclose(clean['keypoints'][b, n], _reference_keypoints(mask, image[b]),
                                 atol=0.05)
      checked += 1
  assert checked > 200
  assert not (clean['instances'] > clean['count'][:, None, None]).any()


def test_labels_are_the_source_digits_and_splits_are_disjoint(clean):
  ds = sources.load('mnist')
  test = canvases.generate(CLEAN, 'test', num=200, seed=3)

  def used(arrays, split):
    imgs = split.get(arrays['source'][arrays['valid']])
    np.testing.assert_array_equal(imgs['label'], arrays['labels'][arrays['valid']])
    return {hashlib.sha1(x.tobytes()).hexdigest() for x in imgs['image']}

  train_digits, test_digits = used(clean, ds.train), used(test, ds.test)
  assert len(train_digits) > 100 and len(test_digits) > 100
  assert not train_digits & test_digits


def test_overlap_policy_and_crowded_grid_fallback():
  for cfg in (canvases.CanvasConfig(size=(32, 32), objects=(4, 4), scale=(0.5, 0.6)),
              canvases.CanvasConfig(size=(40, 40), objects=(2, 4), scale=(0.5, 0.9),
                                    max_iou=0.3)):
    d = canvases.generate(cfg, 'train', num=60, seed=0)
    for b in range(60):
      bx = d['boxes'][b, :d['count'][b]]
      assert ((bx[:, :2] >= 0) & (bx[:, 2:] <= cfg.size[0])).all()
      lt = np.maximum(bx[:, None, :2], bx[None, :, :2])
      rb = np.minimum(bx[:, None, 2:], bx[None, :, 2:])
      inter = np.prod(np.clip(rb - lt, 0, None), -1)
      area = np.prod(bx[:, 2:] - bx[:, :2], -1)
      iou = inter / (area[:, None] + area[None] - inter)
      np.fill_diagonal(iou, 0)
      assert iou.max(initial=0) <= cfg.max_iou + 1e-6


def test_clutter_stays_outside_the_boxes():
  cfg = canvases.CanvasConfig(size=(64, 64), objects=(1, 2), fragments=4, texture=0.3,
                              noise=0.05)
  d = canvases.generate(cfg, 'test', num=40, seed=1)
  outside = np.ones(d['instances'].shape, bool)
  for b in range(40):
    for x1, y1, x2, y2 in d['boxes'][b, :d['count'][b]].astype(int):
      outside[b, y1:y2, x1:x2] = False
  assert (d['instances'][outside] == 0).all()
  assert d['image'][..., 0][outside].std() > 10     # texture + noise + fragments are there


def test_keypoints_hand_case_and_flip_swaps_left_right(clean):
  mask = np.zeros((6, 7), bool)
  mask[1, 2:4] = mask[2, 1] = mask[3, 1:6] = mask[4, 4] = True
  kp = canvases.keypoints_from_mask(mask)
  np.testing.assert_allclose(kp[:4], [[3.0, 1.5], [4.5, 4.5], [1.5, 3.0], [5.5, 3.5]])
  # flipping the canvas and re-deriving the keypoints = moving them and swapping left/right
  w = CLEAN.size[1]
  for b in np.flatnonzero(clean['count'] > 0)[:20]:
    flipped_map = clean['instances'][b, :, ::-1]
    flipped_img = clean['image'][b, :, ::-1, 0].astype(np.float64)
    for n in range(clean['count'][b]):
      again = canvases.keypoints_from_mask(flipped_map == n + 1, flipped_img)
      moved = canvases.flip_points_lr(clean['keypoints'][b, n], w)
      np.testing.assert_allclose(again, moved, atol=0.06)
  assert canvases.KEYPOINT_NAMES[canvases.FLIP_LR_PERM[2]] == 'right'


def test_instance_masks_and_dataset_split(clean):
  masks = canvases.instance_masks(clean['instances'][:5], 4)
  assert masks.shape == (5, 4, 48, 48)
  np.testing.assert_array_equal(masks.any((2, 3)), clean['valid'][:5])
  ds = canvases.load(CLEAN, num_train=20, num_test=10, seed=3)
  assert (len(ds.train), len(ds.test), ds.num_classes) == (20, 10, 10)
  got, direct = ds.train.get(np.array([4, 2])), canvases.generate(CLEAN, 'train', 20, seed=3)
  for k in direct:
    np.testing.assert_array_equal(got[k], direct[k][[4, 2]])


@pytest.mark.parametrize('kwargs, limit', [
    (dict(size=(32, 32), objects=(0, 5), scale=(0.5, 0.5)), r'objects\[1\]=5 .* \(at most 4\)'),
    (dict(size=(24, 24), scale=(0.5, 1.0)), r'scale\[1\]=1.0 gives 28 px'),
    (dict(objects=(0, 3), max_boxes=2), r'max_boxes=2 < objects\[1\]=3'),
    (dict(scale=(0.2, 1.0)), r'minimum side >= 8 px'),
])
def test_impossible_requests_name_the_limit(kwargs, limit):
  with pytest.raises(ValueError, match=limit):
    canvases.generate(canvases.CanvasConfig(**kwargs), 'train', num=2)


def test_points_outside_the_image_are_named():
  pts = np.array([[[3.0, 4.0], [10.0, 70.0]]])
  with pytest.raises(ValueError, match=r'keypoints\[0, 1\] = \[10.0, 70.0\] lies outside'):
    canvases.check_points_inside(pts, (64, 64))
  canvases.check_points_inside(pts, (64, 64), valid=np.array([[True, False]]))


def test_fashion_mnist_source_from_an_idx_folder(tmp_path):
  """source='fashion_mnist' reads the IDX layout of Debian's package (here a folder of real
  MNIST digits written in that layout): labels follow the pasted items, splits stay apart."""
  from test_data import write_idx
  ds = sources.load('mnist')
  for prefix, split, n in (('train', ds.train, 40), ('t10k', ds.test, 20)):
    items = split.get(np.arange(n))
    write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', items['image'][..., 0])
    write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', items['label'])
  cfg = canvases.CanvasConfig(size=(48, 48), objects=(1, 2), source='fashion_mnist',
                              source_dir=str(tmp_path))
  got = canvases.load(cfg, num_train=10, num_test=10)
  assert got.class_names == sources.FASHION_CLASSES and got.name == 'canvases:fashion_mnist'
  for split, n in ((got.train, 40), (got.test, 20)):
    d = split.get(np.arange(10))
    assert d['source'][d['valid']].max() < n
    np.testing.assert_array_equal(
        d['labels'][d['valid']],
        (ds.train if n == 40 else ds.test).get(d['source'][d['valid']])['label'])
