"""Verification as binary classification and the face task's input handling: the pair split
and balanced sampler, the task's loss and k-fold scoring
against metrics.verification called directly, square face crops against scipy's bilinear
map_coordinates, and the bad-input errors. The MTCNN crop of a real ORL photo and the
end-to-end runs are marked slow."""
import numpy as np
import pytest
import jax
import jax.numpy as jnp

from conftest import load_config
from cnn_jax.data.pairs import BalancedPairSampler, PairSplit
from cnn_jax.metrics import verification as ver


def test_pair_split_and_balanced_sampler():
  labels = np.array([0, 0, 0, 1, 1, 2])
  images = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 1), np.uint8)
  split = PairSplit(images, labels)
  assert len(split) == 36
  b = split.get(np.array([0 * 6 + 1, 3 * 6 + 5]))  # (0, 1) same person, (3, 5) not
  np.testing.assert_array_equal(b['image'][:, :, 0, 0, 0], [[0, 1], [3, 5]])
  np.testing.assert_array_equal(b['same'], [1, 0])
  sampler = BalancedPairSampler(labels, 8, seed=3)
  for step in range(20):
    pairs = split.pair(sampler(step))
    same = labels[pairs[:, 0]] == labels[pairs[:, 1]]
    assert list(same) == [True] * 4 + [False] * 4 and np.all(pairs[:, 0] != pairs[:, 1])
    assert np.all(labels[pairs[:4, 0]] != 2)  # person 2 has one photo: never a same pair
  np.testing.assert_array_equal(BalancedPairSampler(labels, 8, seed=3)(7), sampler(7))  # resumable
  listed = PairSplit(images, labels, np.array([[0, 2], [1, 4]]), np.array([0, 1]))
  np.testing.assert_array_equal(listed.get(np.array([1]))['fold'], [1])
  np.testing.assert_array_equal(listed.same, [True, False])
  with pytest.raises(ValueError, match='one with >= 2 photos'):
    BalancedPairSampler(np.arange(4), 4)
  with pytest.raises(ValueError, match=r'\[M, 2\]'):
    PairSplit(images, labels, np.zeros((3, 3)))


def test_verify_task_loss_and_scores_by_hand():
  from cnn_jax.tasks import face_verify
  task = face_verify.FaceVerify(load_config('face_verify_orl', 'smoke'))
  logits, same = jnp.array([2.0, -1.0, 0.5, -3.0]), jnp.array([1, 1, 0, 0])
  loss, stats = task.objective(logits, {'same': same})
  bce = [np.log1p(np.exp(-2.0)), np.log1p(np.exp(1.0)), np.log1p(np.exp(0.5)), np.log1p(np.exp(-3.0))]
  np.testing.assert_allclose(float(loss), np.mean(bce), rtol=1e-6)
  assert float(stats['accuracy']) == 0.5
  rng = np.random.default_rng(1)
  logit, flag, fold = rng.normal(size=40), np.arange(40) % 2, np.arange(40) // 4
  acc = face_verify._PairScores(task.config.eval)
  for part in (slice(0, 25), slice(25, 40)):  # two batches, the second padded
    pad = np.zeros(50 - (part.stop - part.start))
    acc.update(np.concatenate([logit[part], pad]), {
        'same': np.concatenate([flag[part], pad]), 'fold': np.concatenate([fold[part], pad]),
        'mask': np.concatenate([np.ones(part.stop - part.start), pad])})
  out = acc.result()
  kf = ver.kfold_verification(-logit, flag, fold)
  assert out['verification_accuracy'] == kf.accuracy and out['num_pairs'] == 40
  assert out['auc'] == ver.roc_auc(-logit, flag.astype(bool))


def test_square_crops_equal_scipy_and_face_inputs_are_checked():
  from scipy.ndimage import map_coordinates
  from cnn_jax.tasks.face_embedding import FaceEmbedding, prepare_faces, square_crops
  rng = np.random.default_rng(0)
  image = rng.random((1, 30, 24, 1))
  box = np.array([[3.0, 5.0, 15.0, 21.0]])  # 12 x 16: a square of side 16 * 1.25 = 20
  got = square_crops(image, box, np.array([True]), size=10, margin=0.25)
  centres = (np.arange(10) + 0.5) * 2.0 - 10 - 0.5  # side / size = 2
  yy, xx = np.meshgrid(13.0 + centres, 9.0 + centres, indexing='ij')
  ref = map_coordinates(image[0, :, :, 0], [yy, xx], order=1, mode='nearest')
  np.testing.assert_allclose(got[0, :, :, 0], ref, atol=1e-6)
  whole = square_crops(image, box, np.array([False]), size=6)  # not found: the whole photo
  yy, xx = np.meshgrid((np.arange(6) + 0.5) * 5 - 0.5, (np.arange(6) + 0.5) * 4 - 0.5, indexing='ij')
  np.testing.assert_allclose(whole[0, :, :, 0], map_coordinates(
      image[0, :, :, 0], [yy, xx], order=1, mode='nearest'), atol=1e-6)
  config = load_config('face_finetune_orl', 'smoke')
  faces = rng.integers(0, 256, (2, 112, 92, 1), dtype=np.uint8)  # ORL's size, grey
  for mode in ('stretch', 'pad', 'resize'):  # wrong size for the 150x150 net: resized
    config.data.preprocess = mode
    assert prepare_faces(faces, config.data).shape == (2, 150, 150, 3)
  config.data.preprocess = 'mtcnn'
  with pytest.raises(ValueError, match='train.steps=0'):
    prepare_faces(faces, config.data)
  task = FaceEmbedding(config)
  with pytest.raises(ValueError, match=r'vectors \[B, D\]'):  # an embedding that is no vector
    task._embed(jnp.zeros((2, 3, 3)))
  scratch = FaceEmbedding(load_config('face_triplet_orl', 'smoke'))  # not dlib's layout
  with pytest.raises(ValueError, match="init_from='face_api' loads dlib's network"):
    scratch.pretrained_variables(scratch.build_model(None), 'face_api')


@pytest.mark.slow
def test_mtcnn_crop_of_a_real_orl_face():
  """The pretrained path's 'mtcnn' option on ORL s1/1.pgm: one face found, where
  facenet-pytorch finds it (tests/fixtures/mtcnn_facenet.npz), cropped to 150 x 150."""
  from test_mtcnn import REF
  from test_orl import _wheel
  from zoo_testing import FAST_COMPILE
  from cnn_jax.data import orl
  from cnn_jax.ops.boxes import box_iou
  from cnn_jax.tasks.face_embedding import mtcnn_boxes, mtcnn_face_crops
  photo = orl.load_orl(_wheel()).image(0, 1)[None]
  boxes, found = mtcnn_boxes(photo, compiler_options=FAST_COMPILE)
  assert found.tolist() == [True]
  assert float(np.asarray(box_iou(boxes, REF['orl_s1_1_boxes'][:1]))[0, 0]) >= 0.9
  crops, found = mtcnn_face_crops(photo, 150, compiler_options=FAST_COMPILE)
  assert crops.shape == (1, 150, 150, 3) and found.tolist() == [True]
  assert 0 <= crops.min() and crops.max() <= 1 and np.all(crops[..., 0] == crops[..., 2])


@pytest.mark.slow
def test_verify_task_smoke_trains_evaluates_and_draws(tmp_path):
  import json
  from cnn_jax.tasks import face_verify
  config = load_config('face_verify_orl', 'smoke')
  config.devices = 1
  result = face_verify.run(config, str(tmp_path))
  ev = result.eval
  assert ev['num_pairs'] == 900 and 0 <= ev['auc'] <= 1 and 0 <= ev['embedding_nn_accuracy'] <= 1
  logged = json.loads((tmp_path / 'metrics.jsonl').read_text().splitlines()[0])
  assert {'train/loss', 'train/accuracy'} <= set(logged)
  for name in ('roc', 'pairs', 'embeddings', 'curves'):
    assert (tmp_path / f'{name}.png').stat().st_size > 1000
