"""Data sources, splits and pipelines: deterministic, sharded, every test example once."""
import gzip

import grain
import numpy as np
import pytest

from cnn_jax.data import pipeline, sources
from cnn_jax.data.index_shuffle import index_shuffle
from cnn_jax.data.transforms import prepare_images


def write_idx(path, array):
  """A gzipped IDX file of uint8 `array` (the format MNIST and Fashion-MNIST ship in)."""
  header = bytes([0, 0, 8, array.ndim]) + b''.join(d.to_bytes(4, 'big') for d in array.shape)
  with gzip.open(path, 'wb') as f:
    f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fashion_dir(tmp_path):
  """A tiny Fashion-MNIST folder in the Debian package's layout (40 train, 20 test)."""
  rng = np.random.default_rng(0)
  for prefix, n in (('train', 40), ('t10k', 20)):
    write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', rng.integers(0, 256, (n, 28, 28)))
    write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', np.arange(n) % 10)
  return tmp_path


def test_mnist_split_is_the_documented_one():
  ds = sources.load('mnist')
  assert (len(ds.train), len(ds.test)) == (4000, 1000)
  assert np.bincount(ds.test.labels).tolist() == [100] * 10
  again = sources.load('mnist')
  np.testing.assert_array_equal(ds.test.images, again.test.images)
  assert ds.train.images.dtype == np.uint8 and ds.train.images.shape[1:] == (28, 28, 1)


def test_digits_split():
  ds = sources.load('digits')
  assert (len(ds.train), len(ds.test)) == (1433, 364)
  assert ds.train.images.max() == 255


def test_fashion_mnist_reads_idx_files(fashion_dir):
  ds = sources.load('fashion_mnist', str(fashion_dir))
  assert (len(ds.train), len(ds.test), ds.num_classes) == (40, 20, 10)
  assert ds.class_names[9] == 'Ankle boot'
  assert ds.test.labels.tolist() == [i % 10 for i in range(20)]


def test_label_out_of_range_names_value_index_and_key(tmp_path):
  """Labels >= num_classes (EMNIST letters in a Fashion-MNIST folder) or < 0 are refused at
  load (in-memory splits) or per batch (TFDS), naming the label, its example and the key."""
  rng = np.random.default_rng(0)
  for prefix, labels in (('train', [0, 1, 2, 12, 3]), ('t10k', [0, 1])):
    write_idx(tmp_path / f'{prefix}-images-idx3-ubyte.gz', rng.integers(0, 256, (len(labels), 28, 28)))
    write_idx(tmp_path / f'{prefix}-labels-idx1-ubyte.gz', np.array(labels))
  with pytest.raises(sources.LabelOutOfRangeError,
                     match=r"Label 12 of example 3 in the train split of 'fashion_mnist' is "
                           r'outside 0\.\.9.*config\.model\.num_classes'):
    sources.load('fashion_mnist', str(tmp_path))
  with pytest.raises(ValueError, match='Label -1 of example 7 in the test split'):
    sources.Dataset('x', sources.ArraySplit(np.zeros((2, 1)), np.array([0, 1])),
                    sources.ArraySplit(np.zeros((9, 1)), np.array([0] * 7 + [-1, 0])), 2, ('a', 'b'))
  from cnn_jax.data.tfds_source import TfdsSplit
  split = TfdsSplit([{'image': np.zeros((2, 2, 1), np.uint8), 'label': k} for k in (0, 5, 10)],
                    num_classes=10, where="the 'train' split of tfds:mine")
  assert split.get(np.array([1, 0]))['label'].tolist() == [5, 0]
  with pytest.raises(sources.LabelOutOfRangeError,
                     match="Label 10 of example 2 in the 'train' split of tfds:mine"):
    split.get(np.array([0, 2]))


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
  with pytest.raises(sources.DatasetNotFoundError, match='apt-get install dataset-fashion-mnist'):
    sources.load('fashion_mnist', str(tmp_path))


def test_corrupt_idx_file_is_refused(tmp_path):
  (tmp_path / 'bad.gz').write_bytes(gzip.compress(b'\x08\x03garbage'))
  with pytest.raises(ValueError, match='not an IDX file'):
    sources.read_idx(str(tmp_path / 'bad.gz'))
  write_idx(tmp_path / 'short.gz', np.zeros((3, 2)))
  data = gzip.decompress((tmp_path / 'short.gz').read_bytes())
  (tmp_path / 'short.gz').write_bytes(gzip.compress(data[:-2]))
  with pytest.raises(ValueError, match='truncated'):
    sources.read_idx(str(tmp_path / 'short.gz'))


def test_tfds_source_reads_mock_data():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=12):
    ds = sources.load('tfds:mnist')
    batch = ds.train.get(np.array([0, 3, 5]))
  assert batch['image'].shape == (3, 28, 28, 1) and batch['label'].dtype == np.int32
  assert ds.num_classes == 10 and len(ds.test) == 12


def test_missing_tfds_dataset_says_what_to_do(tmp_path):
  with pytest.raises(sources.DatasetNotFoundError, match='tfds build mnist'):
    sources.load('tfds:mnist', str(tmp_path))


def _prepare(examples):
  """The classification task's host step: images to float [0, 1] at 28x28x1, labels."""
  return {'image': prepare_images(examples['image'], 28, 'pad', 1), 'label': examples['label']}


def _global_batches(split, batch, procs, start, n):
  per_proc = [pipeline.train_batches(split, batch, _prepare, seed=3, start_step=start,
                                     process_index=p, num_processes=procs)
              for p in range(procs)]
  return [np.concatenate([next(it)['label'] for it in per_proc]) for _ in range(n)]


def test_train_batches_are_deterministic_resumable_and_sharded():
  split = sources.ArraySplit(np.zeros((50, 28, 28, 1), np.uint8), np.arange(50, dtype=np.int32))
  one = _global_batches(split, 10, 1, 0, 8)
  # each epoch (5 batches) is a permutation; the next epoch another one
  assert sorted(np.concatenate(one[:5]).tolist()) == list(range(50))
  assert not np.array_equal(np.concatenate(one[:5]), np.concatenate(one[5:8] + one[:2]))
  assert all(np.array_equal(a, b) for a, b in zip(one[3:], _global_batches(split, 10, 1, 3, 5)))
  # two processes together see the same examples in each global batch
  two = _global_batches(split, 10, 2, 0, 8)
  assert all(sorted(a.tolist()) == sorted(b.tolist()) for a, b in zip(one, two))


@pytest.mark.parametrize('max_index', [1, 49, 3999, 65535, 65536, 2**20 + 7, 1281166, 2**40 + 3])
def test_vectorised_index_shuffle_equals_grains(max_index):
  """data.index_shuffle against grain's own C++ function, position by position: block sizes
  16 to 42 bits (65,536 = 2^16 wraps in a 16-bit block, as grain's does), seeds across
  the 32-bit range, both the direct walk (a few positions) and the table walk (every
  position of a small permutation)."""
  rng = np.random.default_rng(max_index)
  for seed in (0, 4, 2**32 - 1):
    idx = np.unique(np.concatenate([[0, max_index], rng.integers(0, max_index + 1, 40)]))
    want = [grain.experimental.index_shuffle(int(i), max_index, seed, 4) for i in idx]
    assert index_shuffle(idx, max_index, seed).tolist() == want
    if max_index < 5000:  # the whole permutation: the table path
      whole = index_shuffle(np.arange(max_index + 1), max_index, seed)
      assert whole[idx].tolist() == want and sorted(whole.tolist()) == list(range(max_index + 1))
  assert index_shuffle(np.arange(30), 4999, 9, rounds=6).tolist() == [
      grain.experimental.index_shuffle(i, 4999, 9, 6) for i in range(30)]


def test_train_order_is_grains_shuffle_then_a_new_permutation_each_epoch():
  """Epoch 0 is exactly grain's MapDataset.shuffle(seed) order (the reference); epoch 1 is
  another permutation (grain's index shuffle seeded by seed + 1), not a repeat of epoch 0."""
  split = sources.ArraySplit(np.zeros((50, 28, 28, 1), np.uint8), np.arange(50, dtype=np.int32))
  labels = np.concatenate(_global_batches(split, 10, 1, 0, 10))
  grain_order = [int(i) for i in grain.MapDataset.range(50).shuffle(seed=3)]
  assert labels[:50].tolist() == grain_order
  assert sorted(labels[50:].tolist()) == list(range(50))
  assert labels[50:].tolist() == [int(i) for i in grain.MapDataset.range(50).shuffle(seed=4)]


@pytest.mark.parametrize('procs', [1, 2, 4])
def test_eval_batches_count_every_example_once(procs):
  split = sources.ArraySplit(np.zeros((23, 28, 28, 1), np.uint8), np.arange(23, dtype=np.int32))
  seen = []
  for p in range(procs):
    for b in pipeline.eval_batches(split, 8, _prepare, process_index=p, num_processes=procs):
      assert len(b['label']) == 8 // procs
      seen += b['label'][b['mask'] > 0].tolist()
  assert sorted(seen) == list(range(23))


def test_prepare_images_pads_resizes_and_converts_channels():
  img = np.full((2, 28, 28, 1), 255, np.uint8)
  padded = prepare_images(img, 32, 'pad', 1)
  assert padded.shape == (2, 32, 32, 1) and padded.dtype == np.float32
  assert padded[0, 2:30, 2:30].min() == 1.0 and padded[0, :2].max() == 0.0
  resized = prepare_images(img, 16, 'resize', 3)
  assert resized.shape == (2, 16, 16, 3)
  np.testing.assert_allclose(resized, 1.0, atol=1e-5)
  with pytest.raises(ValueError, match='resize="resize"'):
    prepare_images(img, 20, 'pad', 1)
  with pytest.raises(ValueError, match='Unknown resize'):
    prepare_images(img, 32, 'crop', 1)


def test_inception_crop_box_is_the_formula_and_its_statistics():
  """(top, left, h, w) = the torchvision / Inception definition, drawn by hand from the same
  Generator; the sampled area fraction and log-aspect have the uniform laws' moments."""
  import math
  from cnn_jax.data.transforms import inception_crop_box
  fractions, log_aspects = [], []
  for seed in range(2000):
    # scale <= 0.5 on a square image: every first draw fits (s r <= 2/3), no retry
    top, left, h, w = inception_crop_box(400, 400, np.random.default_rng(seed), (0.08, 0.5))
    rng = np.random.default_rng(seed)
    s, log_r = rng.uniform(0.08, 0.5), rng.uniform(math.log(3 / 4), math.log(4 / 3))
    ew, eh = round(math.sqrt(s * 160000 * math.exp(log_r))), round(math.sqrt(s * 160000 / math.exp(log_r)))
    assert (h, w) == (eh, ew) and (top, left) == (rng.integers(0, 401 - eh), rng.integers(0, 401 - ew))
    fractions.append(h * w / 160000)
    log_aspects.append(math.log(w / h))
  # U(0.08, 0.5): mean 0.29, sd 0.121; log r ~ U(-0.288, 0.288): mean 0, sd 0.166 (n = 2000)
  assert abs(np.mean(fractions) - 0.29) < 0.01 and abs(np.std(fractions) - 0.1212) < 0.01
  assert abs(np.mean(log_aspects)) < 0.01 and abs(np.std(log_aspects) - 0.1661) < 0.01
  for seed in range(300):  # the default scale on a landscape image: always inside, never empty
    top, left, h, w = inception_crop_box(120, 200, np.random.default_rng(seed))
    assert 0 <= top and top + h <= 120 and 0 <= left and left + w <= 200 and h > 0 and w > 0
  # no draw fits a 10 x 1000 strip: the centre crop with its aspect clamped to 4/3
  assert inception_crop_box(10, 1000, np.random.default_rng(0)) == (0, 493, 10, 13)
  assert inception_crop_box(1000, 10, np.random.default_rng(0)) == (493, 0, 13, 10)


def test_host_augment_crops_any_size_to_one_and_is_resumable_and_sharded():
  from cnn_jax.data.transforms import host_augment, inception_crop_box
  aug = host_augment('inception_crop|flip_lr(p=1.0)', 8)
  ramp = np.broadcast_to(np.arange(40, dtype=np.uint8)[None, :, None], (30, 40, 3)).copy()
  images = np.empty(2, object)
  images[:] = [ramp, np.zeros((17, 9, 3), np.uint8)]
  out = aug({'image': images, 'label': np.array([1, 2])},
            [np.random.default_rng(0), np.random.default_rng(1)])['image']
  assert out.shape == (2, 8, 8, 3) and out.dtype == np.uint8
  top, left, h, w = inception_crop_box(30, 40, np.random.default_rng(0))
  assert out[0, 0, 0, 0] >= out[0, 0, -1, 0]  # mirrored: the ramp now falls left to right
  assert left + w - 1 >= out[0, 0, 0, 0] >= out[0, 0, -1, 0] >= left
  with pytest.raises(ValueError, match='Unknown host augmentation'):
    host_augment('inception|flip_lr', 8)
  with pytest.raises(ValueError, match='must start with inception_crop'):
    host_augment('flip_lr', 8)
  with pytest.raises(ValueError, match=r"takes no argument\(s\) \['area'\]"):
    host_augment('inception_crop(area=0.5)', 8)
  assert host_augment('', 8) is None

  rng = np.random.default_rng(0)
  split = sources.ArraySplit(rng.integers(0, 256, (12, 20, 30, 3), np.uint8),
                             np.arange(12, dtype=np.int32))
  crop = host_augment('inception_crop|flip_lr', 8)
  prep = lambda e: {'image': e['image'], 'label': e['label']}

  def stream(procs, start, n):
    its = [pipeline.train_batches(split, 4, prep, seed=1, start_step=start, process_index=p,
                                  num_processes=procs, host_augment=crop) for p in range(procs)]
    return [[next(it) for it in its] for _ in range(n)]

  one = [b[0] for b in stream(1, 0, 4)]
  resumed = [b[0] for b in stream(1, 2, 2)]
  for a, b in zip(one[2:], resumed):
    np.testing.assert_array_equal(a['image'], b['image'])
  for a, parts in zip(one, stream(2, 0, 4)):  # process p holds positions p, p + 2
    images = np.stack([parts[j % 2]['image'][j // 2] for j in range(4)])
    np.testing.assert_array_equal(a['image'], images)
  assert not np.array_equal(one[0]['image'], one[3]['image'])
