"""Faster R-CNN detection on multi-digit canvases (data.canvases), on the supervised runner.

Data: as tasks/yolo.py (canvases with 1..K digits, boxes padded to `max_boxes` + validity
mask). Model: models.faster_rcnn.FasterRCNN, class 0 = background, so digit d is class d + 1
inside the model (`inputs`) and d again in the detections the evaluator sees. The model
samples anchors and RoIs itself in training (the sampling needs the ground truth between its
stages); `objective` sums the four losses of losses.faster_rcnn and logs each as train/<term>.

Eval: COCO AP / AP50 / AP75 (= pycocotools, `metrics.coco`) and VOC AP50 on the held-out
canvases (metrics.detection_eval.DetectionAccumulator) from the model's detections (score >
`model.box_score_thresh`, per-class NMS, `model.box_detections_per_img`). Pictures:
proposals.png (top `predict.num_proposals` RPN proposals), detections.png (score >
`predict.score_threshold`), pr_curves.png. Keys: experiments/_faster_rcnn.py.
"""
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.data import canvases
from cnn_jax.losses.faster_rcnn import faster_rcnn_losses
from cnn_jax.metrics.detection_eval import DetectionAccumulator
from cnn_jax.models.faster_rcnn import FasterRCNN
from cnn_jax.tasks import _supervised


class FasterRCNNTask(_supervised.Task):
  """See the module docstring."""
  progress = ('loss', 'rpn_objectness', 'rpn_box', 'classifier', 'box_reg')

  def __init__(self, config):
    super().__init__(config)
    self.canvas = canvases.config_from(config.data.canvas.to_dict())
    self.size = self.canvas.size

  def load_data(self):
    d = self.config.data
    dataset = canvases.load(self.canvas, d.num_train, d.num_test, seed=d.canvas_seed)
    train = dataset.train.arrays
    canvases.check_boxes(train['boxes'], train['valid'], self.size, 'training canvases')
    return dataset

  def build_model(self, dataset):
    m = self.config.model.to_dict()
    m.pop('name')
    m['backbone'] = m['backbone'] or None
    m = {k: tuple(v) if isinstance(v, list) else v for k, v in m.items()}
    return FasterRCNN(num_classes=dataset.num_classes + 1, **m)

  def pretrained_variables(self, model, source):
    """config.init_from = 'imagenet': the zoo backbone's variables under 'backbone'."""
    if not self.config.model.backbone:
      raise ValueError('config.init_from needs a zoo backbone (config.model.backbone, e.g. '
                       "'mobilenet_v2'); the small backbone has no pretrained weights.")
    from cnn_jax import weights
    loaded = weights.load(self.config.model.backbone, source, include_head=False)
    return {collection: {'backbone': tree} for collection, tree in loaded.items()}

  def prepare(self, examples):
    return canvases.detection_batch(examples, self.config.data.channels)

  augment_targets = {'boxes': 'boxes', 'boxes_valid': 'boxes_valid'}

  def inputs(self, batch, *constants):
    # Class 0 is the background inside the model: digit d is class d + 1.
    return {'image': batch['image'], 'boxes': batch['boxes'], 'labels': batch['labels'] + 1,
            'boxes_valid': batch['boxes_valid']}

  def objective(self, outputs, batch):
    terms = faster_rcnn_losses(outputs)
    return sum(terms.values()), terms

  @staticmethod
  def detections(outputs) -> dict:
    """The model's padded detections with digit labels (class - 1), as the evaluator reads."""
    return {'boxes': outputs['boxes'], 'scores': outputs['scores'],
            'labels': jnp.where(outputs['valid'], outputs['labels'] - 1, -1),
            'valid': outputs['valid']}

  def evaluators(self, run):
    predict = lambda outputs, batch: self.detections(outputs)
    num_classes = run.dataset.num_classes
    evaluate = run.accumulate(predict, lambda: DetectionAccumulator(num_classes),
                              batch_keys=('boxes', 'labels', 'boxes_valid', 'mask'))
    return {'test': evaluate}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz.boxes import proposal_pictures
    test = run.dataset.test
    batch = self.prepare(test.get(np.arange(min(16, len(test)))))
    out = jax.device_get(run.predict(state, batch))
    names = run.dataset.class_names
    truth = {'boxes': batch['boxes'], 'labels': batch['labels'], 'valid': batch['boxes_valid']}
    k = self.config.predict.num_proposals
    # Proposals drawn as class-less boxes with their objectness as the score.
    props = {'boxes': out['proposals'][:, :k], 'scores': out['proposal_scores'][:, :k],
             'labels': np.zeros_like(out['proposal_valid'][:, :k], np.int32),
             'valid': out['proposal_valid'][:, :k]}
    det = jax.device_get(self.detections(out))
    det['valid'] = det['valid'] & (det['scores'] > self.config.predict.score_threshold)
    return proposal_pictures(batch['image'], props, det, truth, names, run.path, evaluation)


def run(config, workdir: str):
  """Trains and evaluates Faster R-CNN on canvases (module docstring); resumes in `workdir`."""
  return _supervised.run(FasterRCNNTask(config), workdir)
