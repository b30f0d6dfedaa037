"""Selective search (data/selective_search.py) on hand-built images and label maps.

References: hand-computed boxes, similarities and merge orders (the formulas of the module
docstring worked out on paper for the layouts below)."""
import numpy as np
import pytest

from cnn_jax.data import selective_search as ss


def _two_rectangles():
  img = np.full((40, 50, 3), 0.2, np.float32)
  img[5:15, 4:20] = (1, 0, 0)      # red: columns 4..19, rows 5..14 -> [4, 5, 20, 15]
  img[20:35, 25:45] = (0, 1, 0)    # green: columns 25..44, rows 20..34 -> [25, 20, 45, 35]
  return img


def test_two_rectangles_recovered_exactly():
  img = _two_rectangles()
  # Without smoothing the segmentation is exactly {background, red, green}: every merge of
  # two of them has the whole image's box, so the proposals are these three boxes.
  boxes, valid = ss.selective_search(img, 5, ss.SelectiveSearchConfig(sigma=0.0))
  assert valid.tolist() == [True, True, True, False, False]
  assert sorted(boxes[valid].tolist()) == [[0, 0, 50, 40], [4, 5, 20, 15], [25, 20, 45, 35]]
  # Padding rows (more boxes asked than the image can produce) are zero boxes.
  np.testing.assert_array_equal(boxes[~valid], 0)
  # With the default smoothing felzenszwalb adds thin edge regions; the rectangles are
  # still proposals, exactly.
  boxes, valid = ss.selective_search((img * 255).astype(np.uint8), 300)
  got = boxes[valid].tolist()
  assert [4, 5, 20, 15] in got and [25, 20, 45, 35] in got
  assert 3 < valid.sum() < 300 and not valid[valid.sum():].any()
  assert (boxes[valid, 2] <= 50).all() and (boxes[valid, 3] <= 40).all()


def test_more_boxes_than_the_image_has_padded_with_mask():
  plain = np.zeros((16, 16, 1), np.uint8)          # one region: only the image's own box
  boxes, valid = ss.selective_search(plain, 4)
  assert valid.tolist() == [True, False, False, False]
  np.testing.assert_array_equal(boxes, [[0, 0, 16, 16]] + [[0, 0, 0, 0]] * 3)
  with pytest.raises(ValueError, match='at least one'):
    ss.selective_search(plain, 0)
  with pytest.raises(ValueError, match=r'\[H, W, C\].*propose\(\)'):
    ss.selective_search(np.zeros((2, 16, 16, 1)), 4)


def _four_regions():
  """10x10: A = columns 0-1, B = columns 2-3, C = columns 4-9 rows 0-4, D = the rest."""
  labels = np.zeros((10, 10), np.int64)
  labels[:, 2:4] = 1
  labels[:5, 4:] = 2
  labels[5:, 4:] = 3
  return labels


def test_size_fill_merge_order_by_hand():
  labels = _four_regions()
  image = np.zeros((10, 10, 1))
  feats = ss.region_features(image, labels)
  np.testing.assert_array_equal(feats['size'], [20, 20, 30, 30])
  np.testing.assert_array_equal(feats['box'], [[0, 0, 2, 10], [2, 0, 4, 10],
                                               [4, 0, 10, 5], [4, 5, 10, 10]])
  pairs = ss.adjacent_pairs(labels)
  assert pairs == [(0, 1), (1, 2), (1, 3), (2, 3)]
  # s_size + s_fill on paper (image area 100):
  #   A,B: (1 - 40/100) + (1 - (40 - 40)/100) = 1.6;  B,C: 0.5 + (1 - (80 - 50)/100) = 1.2
  #   C,D: 0.4 + 1.0 = 1.4  -> A+B first; then AB,C: 0.3 + 0.7 = 1.0 < C,D 1.4 -> C+D; then all.
  sf = (0, 0, 1, 1)
  r = lambda i: {k: feats[k][i] for k in feats}
  for (i, j), want in {(0, 1): 1.6, (1, 2): 1.2, (2, 3): 1.4}.items():
    assert ss.similarity(r(i), r(j), 100.0, sf) == pytest.approx(want)
  hier = ss.hierarchical_grouping(feats, pairs, 100.0, sf)
  np.testing.assert_array_equal(hier[4:], [[0, 0, 4, 10], [4, 0, 10, 10], [0, 0, 10, 10]])
  # Size alone: A,B 0.6 > B,C = B,D 0.5 > C,D 0.4; then AB,C 0.3 < C,D 0.4 -> C+D.
  # Fill alone: A,B and C,D both 1.0, the older pair (A,B, listed first) wins the tie,
  # then C+D (1.0) before AB,C (0.7).
  for weights in ((0, 0, 1, 0), (0, 0, 0, 1)):
    np.testing.assert_array_equal(ss.hierarchical_grouping(feats, pairs, 100.0, weights)[4:6],
                                  [[0, 0, 4, 10], [4, 0, 10, 10]])


def test_colour_similarity_is_histogram_intersection():
  labels = _four_regions()
  image = np.zeros((10, 10, 1))
  image[:, 2:4] = 0.5           # B gray; C half 0.5 half 0.9 (rows 0-4: columns 4-6 / 7-9)
  image[:5, 4:7] = 0.5
  image[:5, 7:] = 0.9
  feats = ss.region_features(image, labels, colour_bins=4)
  # Bins of width 0.25: 0 -> bin 0, 0.5 -> bin 2, 0.9 -> bin 3.
  np.testing.assert_allclose(feats['colour'], [[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, .5, .5],
                                               [1, 0, 0, 0]])
  r = lambda i: {k: feats[k][i] for k in feats}
  assert ss.similarity(r(1), r(2), 100.0, (1, 0, 0, 0)) == pytest.approx(0.5)
  assert ss.similarity(r(0), r(1), 100.0, (1, 0, 0, 0)) == pytest.approx(0.0)
  # Texture histograms are distributions (sum 1 per region) over 8 orientations x bins.
  np.testing.assert_allclose(feats['texture'].sum(1), 1.0)
  assert feats['texture'].shape == (4, 8 * 10)
  # Colour only: B (gray) joins C (half gray) first, the size-weighted mean histogram of BC
  # is (20 [0,0,1,0] + 30 [0,0,.5,.5]) / 50 = [0, 0, .7, .3].
  hier = ss.hierarchical_grouping(feats, ss.adjacent_pairs(labels), 100.0, (1, 0, 0, 0))
  np.testing.assert_array_equal(hier[4], [2, 0, 10, 10])


def test_propose_batch_and_cache(tmp_path):
  images = (np.stack([_two_rectangles()] * 2) * 255).astype(np.uint8)
  cfg = ss.SelectiveSearchConfig(sigma=0.0, min_side=12)
  boxes, valid, seconds = ss.cached_propose(images, 4, cfg, cache=str(tmp_path))
  assert boxes.shape == (2, 4, 4) and valid.shape == (2, 4) and seconds > 0
  # min_side 12 drops the red rectangle (10 rows high).
  assert valid.sum(1).tolist() == [2, 2]
  assert sorted(boxes[0, :2].tolist()) == [[0, 0, 50, 40], [25, 20, 45, 35]]
  again = ss.cached_propose(images, 4, cfg, cache=str(tmp_path))
  np.testing.assert_array_equal(again[0], boxes)
  assert again[2] == seconds and len(list(tmp_path.iterdir())) == 1
  with pytest.raises(ValueError, match=r'batch \[B, H, W, C\]'):
    ss.propose(images[0], 4, cfg)
