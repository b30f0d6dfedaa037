"""Faster R-CNN with a feature pyramid: level assignment (torchvision's LevelMapper formula),
the top-down merge's nearest resize (torch's rule), pyramid and anchor shapes, per-level RoIAlign."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.models.fpn import FPN, nearest_resize
from cnn_jax.ops import roi_heads


def test_fpn_levels_follow_the_level_mapper_formula():
  sides = [0.0, 10.0, 111.9, 112.0, 223.0, 224.0, 447.0, 448.0, 1000.0]
  boxes = jnp.array([[5.0, 7.0, 5.0 + s, 7.0 + s] for s in sides])
  got = roi_heads.fpn_levels(boxes, 2, 5)
  # k = floor(4 + log2(sqrt(wh) / 224) + 1e-6) clamped to [2, 5], minus 2 (area 0: k_min).
  want = [min(max(math.floor(4 + math.log2(s / 224) + 1e-6), 2), 5) - 2 if s else 0
          for s in sides]
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(want, [0, 0, 0, 1, 1, 2, 2, 3, 3])   # by hand
  # A wide box uses sqrt(w h): 448 x 112 has sqrt = 224 -> level 4.
  assert int(roi_heads.fpn_levels(jnp.array([[0.0, 0, 448, 112]]), 2, 5)[0]) == 2


def test_nearest_resize_is_torch_nearest():
  x = jnp.arange(2 * 3 * 4 * 1, dtype=jnp.float32).reshape(2, 3, 4, 1)
  np.testing.assert_array_equal(nearest_resize(x, (6, 8)),
                                np.repeat(np.repeat(np.asarray(x), 2, 1), 2, 2))
  # torch: src = floor(dst * in / out): 3 -> 5 rows take [0, 0, 1, 1, 2].
  np.testing.assert_array_equal(nearest_resize(x, (5, 4))[0, :, 0, 0], [0, 0, 4, 4, 8])


def test_fpn_merges_top_down_and_adds_a_pooled_level():
  feats = [jnp.ones((1, 8, 8, 3)), jnp.ones((1, 4, 4, 5))]
  fpn = FPN(out_channels=6)
  variables = jax.jit(fpn.init)(jax.random.key(0), feats)
  apply = jax.jit(fpn.apply)                                  # one compile for both calls
  outs = apply(variables, feats)
  assert [o.shape for o in outs] == [(1, 8, 8, 6), (1, 4, 4, 6), (1, 2, 2, 6)]
  np.testing.assert_array_equal(outs[2], outs[1][:, ::2, ::2])
  # The fine level sees the coarse input through the top-down path.
  bumped = apply(variables, [feats[0], feats[1].at[:, 0, 0].add(1.0)])
  assert float(jnp.abs(bumped[0] - outs[0]).max()) > 0


def _fpn_model(**kw):
  return FasterRCNN(num_classes=3, backbone_channels=(8, 8, 8), fpn_stages=('stage2', 'stage3'),
                    fpn_channels=8, anchor_sizes=(12.0, 24.0, 48.0), aspect_ratios=(1.0, 2.0),
                    fpn_canonical_scale=16.0, fpn_canonical_level=3, representation_size=8,
                    rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=20, **kw)


def test_fpn_model_shapes_and_anchor_count():
  model = _fpn_model()
  x = jnp.zeros((2, 64, 64, 1))
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  assert set(variables['params']['fpn']) == {'inner0', 'inner1', 'layer0', 'layer1'}
  # One head for all levels: 2 ratios x 1 size per level.
  assert variables['params']['rpn_head']['cls_logits']['kernel'].shape == (1, 1, 8, 2)
  out = jax.eval_shape(model.apply, variables, x)
  assert out['proposals'].shape == (2, 20, 4) and out['boxes'].shape == (2, 100, 4)
  with pytest.raises(ValueError, match='one size per level'):
    jax.eval_shape(_fpn_model().clone(anchor_sizes=(12.0, 24.0)).init, jax.random.key(0), x)
  with pytest.raises(ValueError, match="fpn_stages: 'stage7' not in"):
    jax.eval_shape(_fpn_model().clone(fpn_stages=('stage7',)).init, jax.random.key(0), x)


def test_each_roi_reads_its_own_level():
  model = _fpn_model()
  # Constant maps, level l = l + 1: RoIAlign of a constant map inside it is that constant, so
  # every crop says which level it read (the pooled third level is never read).
  levels = [jnp.full((1, 64 // s, 64 // s, 2), l + 1.0) for l, s in enumerate((4, 8, 16))]
  rois = jnp.array([[[4.0, 4, 12, 12], [10, 10, 26, 26], [0, 0, 40, 40], [1, 1, 2, 2]]])
  crops = jax.jit(lambda f, r: model.apply({}, f, r, (64, 64), method='_roi_features'))(
      levels, rois)
  # k = floor(3 + log2(sqrt(wh) / 16)): sides 8, 16, 40, 1 -> k 2, 3, 4, -1 -> clamped to
  # [2, 3] -> levels 0, 1, 1, 0.
  np.testing.assert_allclose(crops[:, 0, 0, 0], [1.0, 2.0, 2.0, 1.0])
  np.testing.assert_allclose(crops, jnp.broadcast_to(crops[:, :1, :1, :1], crops.shape))
