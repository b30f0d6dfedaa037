"""TensorFlow Datasets as random-access splits, without TensorFlow (array_record + grain).

For users who have the data prepared (`tfds build <name>` on a machine with network, or a
copied TFDS data dir). Nothing is downloaded at run time: a missing dataset is an error.
"""
import dataclasses

import numpy as np

from cnn_jax.data.dataset import Dataset, DatasetNotFoundError, check_labels


@dataclasses.dataclass
class TfdsSplit:
  """One split of a TFDS data source; images decoded to uint8 [H, W, C]. With `num_classes`
  each batch's labels are checked to lie in [0, num_classes) (`where` names the split)."""
  source: object
  image_key: str = 'image'
  label_key: str = 'label'
  num_classes: int | None = None
  where: str = 'a TFDS split'

  def __len__(self) -> int:
    return len(self.source)

  def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
    examples = [self.source[int(i)] for i in indices]
    images = [np.asarray(e[self.image_key]) for e in examples]
    if len({im.shape for im in images}) > 1:  # variable sizes (ImageNet): the task's prepare
      ragged = np.empty(len(images), object)  # fits them (transforms.prepare_images)
      ragged[:] = images
      stacked = ragged
    else:
      stacked = np.stack(images)
    labels = np.asarray([e[self.label_key] for e in examples], np.int32)
    if self.num_classes is not None:  # (ImageNet's unlabelled test split has -1)
      check_labels(labels, self.num_classes, self.where, indices)
    return {'image': stacked, 'label': labels}


# Datasets whose labelled held-out split is not called 'test' (ImageNet's test labels are -1).
EVAL_SPLITS = {'imagenet2012': 'validation', 'imagenet2012_subset': 'validation',
               'imagenet_v2': 'test'}


def load_tfds(name: str, data_dir: str = '', train_split: str = 'train',
              test_split: str | None = None) -> Dataset:
  """Opens a prepared TFDS dataset `name` (e.g. 'mnist', 'cifar10', 'imagenet2012') from
  `data_dir`; evaluation uses `test_split` (default 'test', ImageNet's 'validation').
  Images of different sizes come back as an object array, for the task's prepare to fit.

  ImageNet: `tfds build imagenet2012` needs ILSVRC2012_img_train.tar and
  ILSVRC2012_img_val.tar in <data_dir>/downloads/manual/ (image-net.org, after sign-up);
  it writes <data_dir>/imagenet2012/5.1.0/ (array_record files), which config.data.dir
  (or TFDS_DATA_DIR) then points to."""
  import tensorflow_datasets as tfds
  test_split = test_split or EVAL_SPLITS.get(name.split(':')[0].split('/')[0], 'test')
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
  split = lambda s: TfdsSplit(sources[s], num_classes=label.num_classes,
                              where=f'the {s!r} split of tfds:{name}')
  return Dataset(f'tfds:{name}', split(train_split), split(test_split), label.num_classes, names)
