"""TFDS `lfw` as identities for the P x K sampler and the pair splits, on
`tfds.testing.mock_data` (nothing is downloaded): the names become identities, people split
without overlap, crops and lazy reads, and the errors for a missing or unusable dataset."""
import numpy as np
import pytest

from cnn_jax.data import lfw
from cnn_jax.data.dataset import DatasetNotFoundError
from cnn_jax.data.pairs import BalancedPairSampler, PairSplit
from cnn_jax.data.pk_sampler import PKSampler

NAMES = ['Ann_A'] * 4 + ['Bob_B'] * 3 + ['Cy_C'] * 2 + ['Di_D'] * 2 + ['Ed_E']  # 12 photos


def _examples():
  rng = np.random.default_rng(0)
  return [{'image': rng.integers(0, 256, (250, 250, 3), dtype=np.uint8), 'label': name}
          for name in NAMES]


def test_lfw_names_become_identities_split_by_person():
  import tensorflow_datasets as tfds
  examples = _examples()
  with tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: examples):
    ds = lfw.load_lfw(min_images=2, test_fraction=0.5, seed=0, crop=150)
  assert ds.num_classes == 4 and ds.class_names == ('Ann_A', 'Bob_B', 'Cy_C', 'Di_D')  # no Ed_E
  train, test = set(ds.train.labels), set(ds.test.labels)
  assert len(train) == len(test) == 2 and not train & test
  assert len(ds.train) + len(ds.test) == 11
  batch = ds.test.get(np.arange(len(ds.test)))
  rows = [i for i, n in enumerate(NAMES) if n in {ds.class_names[c] for c in test}]
  expected = np.stack([examples[i]['image'][50:200, 50:200] for i in rows])
  np.testing.assert_array_equal(batch['image'], expected)  # central 150 x 150, in source order
  np.testing.assert_array_equal(batch['label'],
                                [ds.class_names.index(NAMES[i]) for i in rows])
  # identities for the P x K sampler and for balanced pairs
  sampler = PKSampler(ds.train.labels, p=2, k=2, seed=0)
  got = ds.train.get(sampler(0))['label'].reshape(2, 2)
  assert np.all(got == got[:, :1]) and got[0, 0] != got[1, 0]
  pairs = PairSplit(ds.train.images, ds.train.labels)
  b = pairs.get(BalancedPairSampler(ds.train.labels, 4, seed=0)(0))
  assert b['image'].shape == (4, 2, 150, 150, 3) and list(b['same']) == [1, 1, 0, 0]


def test_lfw_unusable_or_missing_says_what_to_do(tmp_path):
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=5):  # random names: nobody has two photos
    with pytest.raises(ValueError, match='Only 0 people in lfw have >= 2 photos'):
      lfw.load_lfw()
  examples = _examples()
  with tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: examples):
    ds = lfw.load_lfw(min_images=2, test_fraction=0.5)
  with pytest.raises(ValueError, match=r'identities \d \(2\)'):  # which one is short
    PKSampler(np.concatenate([ds.train.labels, ds.test.labels]), p=2, k=3)
  with pytest.raises(ValueError, match='crop'):
    lfw.load_lfw(crop=300)
  with pytest.raises(DatasetNotFoundError, match='tfds build lfw'):
    lfw.load_lfw(str(tmp_path))
