"""Image classification: a registered model + cross-entropy + accuracy on a dataset.

The supervised runner (`tasks/_supervised.py`) does the rest. Config keys: the family base
experiments/_classification.py. At the end (process 0) it draws curves.png, confusion.png
and predictions.png into the workdir (and TensorBoard).
"""
import numpy as np

from cnn_jax.data.transforms import host_augment, prepare_images
from cnn_jax.losses.classification import cross_entropy
from cnn_jax.metrics.classification import confusion_terms, correct, topk_correct
from cnn_jax.tasks import _supervised, _test_time
from cnn_jax.viz.classification import plot_confusion, plot_predictions


class Classification(_supervised.Task):
  """Labels from images. With GoogLeNet's `aux_logits=True` the two auxiliary heads add
  `loss.aux_weight` (0.3 in the paper) times their cross-entropy to the training loss."""
  unit, progress = 'img', ('loss', 'accuracy')

  def prepare(self, examples):
    d = self.config.data
    return {'image': prepare_images(examples['image'], d.image_size, d.resize, d.channels),
            'label': examples['label'].astype(np.int32)}

  def host_augment(self):
    """config.data.host_augment, e.g. 'inception_crop|flip_lr' (ImageNet): crops of the
    decoded images of any size, resized to data.image_size, before batching."""
    return host_augment(self.config.data.host_augment, self.config.data.image_size)

  def train_kwargs(self, model):
    return {'return_aux': True} if getattr(model, 'aux_logits', False) else {}

  def objective(self, outputs, batch):
    logits, *aux = outputs if isinstance(outputs, tuple) else (outputs,)
    smoothing = self.config.loss.label_smoothing
    loss = cross_entropy(logits, batch['label'], smoothing).mean()
    metrics = {'accuracy': correct(logits, batch['label']).mean()}
    if aux:  # (logits, aux2, aux1): GoogLeNet in training
      metrics['main_loss'] = loss
      loss = loss + self.config.loss.aux_weight * sum(
          cross_entropy(a, batch['label'], smoothing).mean() for a in aux)
    return loss, metrics

  def evaluators(self, run):
    top5 = run.dataset.num_classes > 5

    def metric_fn(logits, batch):
      values = {'loss': cross_entropy(logits, batch['label']),
                'accuracy': correct(logits, batch['label']),
                'confusion': confusion_terms(logits, batch['label'])}
      if top5:
        values['top5_accuracy'] = topk_correct(logits, batch['label'], 5)
      return values

    # config.eval.multicrop / config.eval.ensemble add test-time evaluators (tasks/_test_time.py)
    return {'test': run.masked_means(metric_fn), **_test_time.evaluators(run)}

  def pictures(self, run, state, evaluation):
    """confusion.png and predictions.png (32 test images spread over the split)."""
    test, names = run.dataset.test, run.dataset.class_names
    indices = np.linspace(0, len(test) - 1, min(32, len(test))).astype(np.int64)
    batch = self.prepare(test.get(indices))
    logits = run.predict(state, batch)
    return {'confusion': plot_confusion(evaluation['confusion'], names, run.path('confusion.png')),
            'predictions': plot_predictions(batch['image'], batch['label'], np.argmax(logits, -1),
                                            names, run.path('predictions.png'))}


def run(config, workdir: str):
  """Trains and evaluates config's model on config's dataset; resumes in `workdir`."""
  return _supervised.run(Classification(config), workdir)
