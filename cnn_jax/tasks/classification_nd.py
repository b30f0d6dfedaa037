"""Classification of 1-D sequences [N, L, C] and 3-D volumes [N, D, H, W, C] (course §1.10).

The classification task (`tasks/classification.py`) with the data of `data.nd_digits`
('mnist_sequence' | 'mnist_volume') taken as they are: uint8 -> float32 in [0, 1], no
resizing (config.data.image_size, resize and channels are not read), no augmentation or
multi-crop (they are 2-D). Same objective and evaluators; the picture is confusion.png.
Config keys: experiments/_classification.py; experiments: conv1d_mnist_sequence.py,
conv3d_mnist_volume.py.
"""
import numpy as np

from cnn_jax.data import nd_digits
from cnn_jax.tasks import _supervised
from cnn_jax.tasks.classification import Classification
from cnn_jax.viz.classification import plot_confusion


class ClassificationND(Classification):
  """Labels from sequences or volumes; the model's input rank must match the data's."""

  def load_data(self):
    d = self.config.data
    for key, off in (('augment', ''), ('train_per_class', 0)):
      if d[key] != off:
        raise ValueError(f'config.data.{key}={d[key]!r} is not supported for {d.name!r} '
                         f'(task classification_nd); set it to {off!r}.')
    if self.config.eval.multicrop:
      raise ValueError('config.eval.multicrop crops 2-D images; set it to "" for '
                       f'{d.name!r} (task classification_nd).')
    return nd_digits.load(d.name)

  def prepare(self, examples):
    return {'image': examples['image'].astype(np.float32) / 255.0,
            'label': examples['label'].astype(np.int32)}

  def pictures(self, run, state, evaluation):
    """confusion.png on the test split."""
    return {'confusion': plot_confusion(evaluation['confusion'], run.dataset.class_names,
                                        run.path('confusion.png'))}


def run(config, workdir: str):
  """Trains and evaluates config's 1-D or 3-D model on config's dataset; resumes in `workdir`."""
  return _supervised.run(ClassificationND(config), workdir)
