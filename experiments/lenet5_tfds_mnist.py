r"""LeNet-5 on the full MNIST (60,000 / 10,000) through TensorFlow Datasets, for users who have it.

Needs a prepared TFDS mnist (array_record) in the default data dir or --config.data.dir:
`tfds build mnist --file_format=array_record` where there is network. Offline this stops with
an error that says so (the tests run it on tfds.testing.mock_data).
Command:
  python launch.py --config experiments/lenet5_tfds_mnist.py --workdir runs/lenet5_tfds_mnist
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_lenet5.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _RECIPE['recipe'](arg == 'smoke')
  c.data.name = 'tfds:mnist'
  if arg == 'smoke':
    c.data.update(batch_size=8, eval_batch_size=8)
    c.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  else:
    c.data.batch_size = 256
    c.train.update(steps=4000, log_every=100, eval_every=1000, checkpoint_every=1000)
  return c
