"""TensorFlow Datasets as random-access splits, without TensorFlow (array_record + grain).

For users who have the data prepared (`tfds build <name>` on a machine with network, or a
copied TFDS data dir). Nothing is downloaded at run time: a missing dataset is an error.
"""
import dataclasses

import numpy as np

from cnn_jax.data.dataset import Dataset, DatasetNotFoundError


@dataclasses.dataclass
class TfdsSplit:
  """One split of a TFDS data source; images decoded to uint8 [H, W, C]."""
  source: object
  image_key: str = 'image'
  label_key: str = 'label'

  def __len__(self) -> int:
    return len(self.source)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    examples = [self.source[int(i)] for i in indices]
    images = [np.asarray(e[self.image_key]) for e in examples]
    if len({im.shape for im in images}) > 1:
      raise ValueError('Examples have different image sizes; variable-size TFDS datasets need '
                       'a resizing map before batching (set config.data.resize="resize").')
    return {'image': np.stack(images),
            'label': np.asarray([e[self.label_key] for e in examples], np.int32)}


def load_tfds(name: str, data_dir: str = '', train_split: str = 'train',
              test_split: str = 'test') -> Dataset:
  """Opens a prepared TFDS dataset `name` (e.g. 'mnist', 'cifar10') from `data_dir`."""
  import tensorflow_datasets as tfds
  try:
    sources = {s: tfds.data_source(name, split=s, data_dir=data_dir or None, download=False)
               for s in (train_split, test_split)}
  except Exception as e:  # tfds raises AssertionError / DatasetNotFoundError / ValueError
    raise DatasetNotFoundError(
        f'TFDS dataset {name!r} is not prepared in {data_dir or "the default TFDS data dir"} '
        f'({type(e).__name__}: {e}). Prepare it where there is network with `tfds build {name} '
        '--file_format=array_record`, then copy the data dir here and set config.data.dir '
        '(or TFDS_DATA_DIR). Offline alternatives: data.name="mnist" or "fashion_mnist".') from None
  info = sources[train_split].dataset_info
  label = info.features['label']
  names = tuple(label.names) if getattr(label, 'names', None) else tuple(map(str, range(label.num_classes)))
  return Dataset(f'tfds:{name}', TfdsSplit(sources[train_split]), TfdsSplit(sources[test_split]),
                 label.num_classes, names)
