"""The supervised runner (tasks/_supervised.py) and the train library's seams it stands on.

- `lenet5_mnist:smoke` gives bit-identical parameters to the fixture made before the runner
  was extracted (tests/fixtures/make_lenet5_smoke_params.py at 6d2da49).
"""
import pathlib

import flax
import jax
import numpy as np

from conftest import load_config
from cnn_jax.tasks import classification

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'


def test_lenet5_smoke_params_are_bit_identical_to_the_pre_runner_fixture(tmp_path):
  result = classification.run(load_config('lenet5_mnist'), str(tmp_path))
  flat = flax.traverse_util.flatten_dict(jax.device_get(result.state.params), sep='/')
  want = np.load(FIXTURES / 'lenet5_smoke_params.npz')
  assert sorted(flat) == sorted(want.files)
  for k in want.files:
    np.testing.assert_array_equal(np.asarray(flat[k]), want[k], err_msg=k)
