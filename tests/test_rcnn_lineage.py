"""R-CNN / Fast R-CNN (models/rcnn.py) and the lineage task (tasks/rcnn_lineage.py).

References: hand-computed boxes and recalls; bilinear sampling of a linear ramp (exact, so
every warped crop pixel equals the ramp at the crop pixel's centre); FasterRCNN's own
parameter tree (Fast R-CNN must reuse its backbone and box head)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.models.rcnn import RCNN, FastRCNN, warp_boxes
from cnn_jax.tasks import rcnn_lineage


def test_warp_boxes_adds_context_pixels():
  # warp 32, context 2: factor 32 / 28; a 28 px box grows to 32 px about its centre.
  got = warp_boxes(jnp.array([[10., 20., 38., 48.]]), 32, 2.0)
  np.testing.assert_allclose(got, [[8., 18., 40., 50.]], rtol=1e-6)
  np.testing.assert_allclose(warp_boxes(jnp.array([[1., 2., 3., 4.]]), 8, 0.0), [[1, 2, 3, 4]])


def test_rcnn_crops_warp_a_linear_ramp_exactly():
  ys, xs = np.mgrid[0:24, 0:24].astype(np.float32)
  ramp = lambda x, y: 0.5 * x + 2.0 * y + 1.0          # of pixel-centre coordinates
  image = ramp(xs + 0.5, ys + 0.5)[None, :, :, None]
  rois = jnp.array([[[4., 2., 12., 10.], [2., 3., 18., 19.]]])   # 8x8 (copy), 16x16 (warp x0.5)
  crops = np.asarray(jax.jit(RCNN(warp_size=8, context=0.0).crops)(jnp.asarray(image), rois))
  centre = np.arange(8) + 0.5
  np.testing.assert_allclose(crops[0, ..., 0], image[0, 2:10, 4:12, 0], rtol=1e-5)
  want = ramp(2 + 2 * centre[None, :], 3 + 2 * centre[:, None])
  np.testing.assert_allclose(crops[1, ..., 0], want, rtol=1e-5)


def test_proposal_recall_by_hand():
  gt = np.array([[[0, 0, 10, 10], [20, 20, 30, 30]]], np.float32)
  props = np.array([[[0, 0, 10, 12], [20, 20, 30, 40], [0, 0, 10, 10]]], np.float32)
  # IoU: gt0 with props 0 / 2: 100/120 = 0.833 / 1 (prop 2 masked out); gt1 with prop 1: 0.5.
  got = rcnn_lineage.proposal_recall(gt, np.array([[True, True]]), props,
                                     np.array([[True, True, False]]))
  assert got == {'recall50': 1.0, 'recall70': 0.5}
  got = rcnn_lineage.proposal_recall(gt, np.array([[True, False]]), props,
                                     np.array([[False, True, False]]))
  assert got == {'recall50': 0.0, 'recall70': 0.0}


def _batch(n=2, p=5, g=3, size=32):
  return {'image': jnp.zeros((n, size, size, 1)), 'proposals': jnp.zeros((n, p, 4)),
          'proposal_valid': jnp.ones((n, p), bool), 'boxes': jnp.zeros((n, g, 4)),
          'labels': jnp.ones((n, g), jnp.int32), 'boxes_valid': jnp.ones((n, g), bool)}


def test_output_shapes_and_fast_rcnn_reuses_faster_rcnn_head():
  batch, key = _batch(), jax.random.key(0)
  rcnn = RCNN(num_classes=4, warp_size=8, channels=(4,), representation_size=8,
              box_batch_size_per_image=6, box_detections_per_img=7)
  fast = FastRCNN(num_classes=4, backbone_channels=(4, 4, 4), representation_size=8,
                  box_batch_size_per_image=6, box_detections_per_img=7)
  rngs = {'params': key, 'dropout': key}
  shapes = lambda tree: jax.tree_util.tree_map(lambda a: a.shape, tree)
  params = {}
  for name, model in (('rcnn', rcnn), ('fast', fast)):
    # Train mode (init traces it once): 5 proposals + 3 ground truths = 8 candidates, 6 sampled.
    out, v = jax.eval_shape(lambda: model.init_with_output(rngs, batch, train=True))
    assert out['class_logits'].shape == (2, 6, 4) and out['box_regression'].shape == (2, 6, 16)
    assert out['roi_labels'].shape == out['roi_valid'].shape == (2, 6)
    params[name] = v['params']
  det = jax.eval_shape(lambda v: rcnn.apply(v, batch), {'params': params['rcnn']})
  assert shapes(det) == {'boxes': (2, 7, 4), 'scores': (2, 7), 'labels': (2, 7), 'valid': (2, 7)}
  faster = FasterRCNN(num_classes=4, backbone_channels=(4, 4, 4), representation_size=8)
  full = jax.eval_shape(lambda: faster.init(rngs, batch, train=True))['params']
  assert shapes(params['fast']) == shapes({k: w for k, w in full.items() if k != 'rpn_head'})


def test_bad_inputs_name_what_to_change():
  with pytest.raises(ValueError, match='proposals'):
    RCNN().init(jax.random.key(0), jnp.zeros((1, 32, 32, 1)))
  from conftest import load_config
  config = load_config('rcnn_canvas')
  config.model.name = 'yolo'
  with pytest.raises(ValueError, match=r"one of \['fast_rcnn', 'rcnn'\]"):
    rcnn_lineage.RCNNLineageTask(config)
  config.model.name, config.mode = 'rcnn', 'speed'
  with pytest.raises(ValueError, match="'train' or 'compare'"):
    rcnn_lineage.run(config, '/nonexistent')


@pytest.mark.slow
def test_smoke_runs_and_lineage_compare(tmp_path, monkeypatch):
  import json
  from conftest import load_config
  from cnn_jax.train.workdir import check_and_record_config
  monkeypatch.setenv('CNN_JAX_CACHE', str(tmp_path / 'cache'))
  workdirs = {}
  for name in ('rcnn', 'fast_rcnn'):
    config = load_config(f'{name}_canvas')
    workdirs[name] = str(tmp_path / name)
    # As launch.py does: the compare mode rebuilds each model from the recorded config.json.
    check_and_record_config(workdirs[name], config.to_dict(), False, write=True)
    result = rcnn_lineage.run(config, workdirs[name])
    assert int(result.state.step) == config.train.steps
    for key in ('AP', 'AP50', 'voc_AP50', 'proposal_recall50', 'proposal_recall70'):
      assert 0.0 <= result.eval[key] <= 1.0
    info = json.loads((tmp_path / name / 'proposals.json').read_text())
    assert info['test']['images'] == config.data.num_test and info['test']['seconds'] > 0
    for png in ('proposals.png', 'detections.png', 'curves.png'):
      assert (tmp_path / name / png).exists()
  # Proposals were computed once: the second run hit the cache (one file per split).
  assert len(list((tmp_path / 'cache' / 'selective_search').iterdir())) == 2
  config = load_config('rcnn_canvas')
  config.mode = 'compare'
  config.compare.update(runs=2, ss_images=2, picture_images=2)
  config.compare.workdirs.update(faster_rcnn='', **workdirs)
  report = rcnn_lineage.run(config, str(tmp_path / 'compare'))
  for name in workdirs:
    assert report[name]['images_per_s'] > report[name]['images_per_s_with_proposals'] > 0
    assert report[name]['proposals_per_image'] == report['selective_search']['proposals_per_image']
  assert (tmp_path / 'compare' / 'lineage.json').exists()
  assert (tmp_path / 'compare' / 'lineage_proposals.png').exists()
