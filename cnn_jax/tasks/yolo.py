"""YOLOv2 detection on multi-digit canvases (data.canvases), on the supervised runner.

Data: canvases with 1..K digits (overlap allowed by `data.canvas.max_iou`), boxes padded to
`max_boxes` with a validity mask (static shapes). Anchors: `config.anchors.boxes` when given,
else k-means with d = 1 - IoU on the training boxes (`ops.anchor_kmeans`, seeded); the
average best IoU for k = `config.anchors.curve` (YOLOv2's curve) and the best possible
recall are logged and written to `anchors.json` with the anchors (with `anchors.report`, also
the curve and the assignment rate).
Model: models.yolo.YOLO. Loss: losses.yolo (each term logged as train/<term>). Targets are
built on device inside the loss (`ops.yolo.build_targets`); with `anchors.report` the
fraction of training objects that keep a (cell, anchor) of their own is logged at start.

Eval: COCO AP / AP50 / AP75 (= pycocotools, `metrics.coco`) and VOC AP50 on the held-out
canvases, detections from `ops.yolo.postprocess` with `config.predict.eval_score_threshold`
(low, as mAP needs the whole precision-recall curve). Pictures: detections.png (16 test
canvases at the course's `config.predict.score_threshold`), pr_curves.png (per class) and
per_class_ap.json (COCO AP50 and VOC AP50 per class, final evaluation).
Keys: experiments/_yolo.py.
"""
import json

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from cnn_jax.data import canvases
from cnn_jax.losses.yolo import YoloLossConfig, yolo_loss
from cnn_jax.metrics.detection_eval import DetectionAccumulator
from cnn_jax.models.yolo import YOLO
from cnn_jax.ops import anchor_kmeans, yolo
from cnn_jax.tasks import _supervised


class Yolo(_supervised.Task):
  """See the module docstring."""
  progress = ('loss', 'object', 'no_object', 'coord', 'class')

  def __init__(self, config):
    super().__init__(config)
    self.canvas = canvases.config_from(config.data.canvas.to_dict())
    try:   # e.g. more objects than the padded maximum: refused before any data is made
      canvases.check_config(self.canvas)
    except ValueError as e:
      raise ValueError(f'config.data.canvas: {e}') from None
    self.size = self.canvas.size
    self.loss_cfg = YoloLossConfig(**config.loss.to_dict())
    self.anchors = self._given_anchors()   # None: k-means on the training boxes (load_data)
    self.anchor_report = {}
    m, (h, w) = config.model, self.size
    # Refused before any data is made: a canvas the grid cannot tile.
    stride = YOLO(num_classes=1, num_anchors=1, backbone=m.backbone, feature=m.feature,
                  widths=tuple(m.widths)).stride()
    if h % stride or w % stride:
      raise ValueError(f'The canvas {h}x{w} is not a multiple of the grid stride {stride}; '
                       'change config.data.canvas.size or the backbone.')

  def _given_anchors(self) -> np.ndarray | None:
    """config.anchors.boxes as [A, 2] positive (w, h) pixels, or None when empty."""
    boxes = self.config.anchors.boxes
    if not boxes:
      return None
    try:
      anchors = np.asarray(boxes, np.float32)
    except (ValueError, TypeError):   # ragged: ((10, 20), (3,))
      anchors = None
    if anchors is None or anchors.ndim != 2 or anchors.shape[1] != 2 or (anchors <= 0).any():
      raise ValueError(f'config.anchors.boxes must be ((w, h), ...) positive pixel sizes; got '
                       f'{boxes!r}.')
    return anchors

  def load_data(self):
    d = self.config.data
    dataset = canvases.load(self.canvas, d.num_train, d.num_test, seed=d.canvas_seed)
    train = dataset.train.arrays
    canvases.check_boxes(train['boxes'], train['valid'], self.size, 'training canvases')
    self.anchors = self._anchors(train['boxes'], train['valid'])
    return dataset

  def _anchors(self, boxes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    a = self.config.anchors
    wh = (boxes[..., 2:] - boxes[..., :2])[valid]
    key = jax.random.key(self.config.seed)
    if a.boxes:
      anchors = self._given_anchors()
    else:
      fit = jax.jit(anchor_kmeans.kmeans_anchors, static_argnums=(1, 3))
      anchors = np.asarray(fit(wh, a.k, key, a.iterations).anchors)
    report = {'anchors': anchors.round(2).tolist(),
              'mean_best_iou': float(anchor_kmeans.mean_best_iou(wh, anchors)),
              'best_possible_recall': float(anchor_kmeans.best_possible_recall(wh, anchors))}
    if a.report and a.curve:
      report['curve'] = anchor_kmeans.anchor_curve(wh, a.curve, key, a.iterations)
    self.anchor_report = report
    logging.info('Anchors %s: mean best IoU %.3f, best possible recall %.3f%s.',
                 report['anchors'], report['mean_best_iou'], report['best_possible_recall'],
                 f'; k -> mean IoU {report["curve"]}' if 'curve' in report else '')
    return anchors

  def build_model(self, dataset):
    m = self.config.model
    model = YOLO(num_classes=dataset.num_classes, num_anchors=len(self.anchors),
                 backbone=m.backbone, feature=m.feature, widths=tuple(m.widths),
                 head_width=m.head_width, conv_impl=m.conv_impl)
    self.stride = model.stride()   # the canvas is a multiple of it (checked in __init__)
    h, w = self.size
    self.grid = (h // self.stride, w // self.stride)
    if self.config.anchors.report:
      train = dataset.train.arrays
      rate = yolo.assignment_rate(jnp.asarray(train['boxes'][:2000]),
                                  jnp.asarray(train['valid'][:2000]), self.anchors, self.grid,
                                  self.stride)
      self.anchor_report['assignment_rate'] = float(rate)
      logging.info('Grid %s, stride %d: %.4f of the training objects get a (cell, anchor) of '
                   'their own (assignment rate).', self.grid, self.stride, float(rate))
    return model

  def pretrained_variables(self, model, source):
    """config.init_from = 'imagenet' (or a weight file of the backbone): the zoo backbone's
    variables, headless, under the 'backbone' module; the head stays fresh."""
    if not self.config.model.backbone:
      raise ValueError('config.init_from needs a zoo backbone (config.model.backbone, e.g. '
                       "'mobilenet_v2'); the small Darknet backbone has no pretrained weights.")
    from cnn_jax import weights
    loaded = weights.load(self.config.model.backbone, source, include_head=False)
    return {collection: {'backbone': tree} for collection, tree in loaded.items()}

  def prepare(self, examples):
    return canvases.detection_batch(examples, self.config.data.channels)

  augment_targets = {'boxes': 'boxes', 'boxes_valid': 'boxes_valid'}

  def objective(self, outputs, batch):
    loss, terms = yolo_loss(outputs, batch['boxes'], batch['labels'], batch['boxes_valid'],
                            jnp.asarray(self.anchors), self.stride, self.size, self.loss_cfg)
    return loss, terms

  def detect(self, outputs, score_threshold: float) -> yolo.Detections:
    p = self.config.predict
    post = lambda raw: yolo.postprocess(
        raw, jnp.asarray(self.anchors), self.stride, self.size, score_threshold,
        p.iou_threshold, p.max_detections, p.pre_nms_top_k or None)
    return jax.vmap(post)(outputs)

  def evaluators(self, run):
    if run.chief:
      with open(run.path('anchors.json'), 'w') as f:
        json.dump({**self.anchor_report, 'stride': self.stride, 'grid': list(self.grid),
                   'image_size': list(self.size), 'num_classes': run.dataset.num_classes,
                   'class_names': list(run.dataset.class_names)}, f, indent=1)
    predict = lambda outputs, batch: self.detect(
        outputs, self.config.predict.eval_score_threshold)._asdict()
    num_classes = run.dataset.num_classes
    evaluate = run.accumulate(predict, lambda: DetectionAccumulator(num_classes),
                              batch_keys=('boxes', 'labels', 'boxes_valid', 'mask'))
    return {'test': evaluate}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz.boxes import plot_detections, plot_pr_curves
    test = run.dataset.test
    batch = self.prepare(test.get(np.arange(min(16, len(test)))))
    raw = run.predict(state, batch)
    det = jax.device_get(self.detect(jnp.asarray(raw), self.config.predict.score_threshold))
    names = run.dataset.class_names
    out = {'detections': plot_detections(
        batch['image'], det._asdict(), {'boxes': batch['boxes'], 'labels': batch['labels'],
                                         'valid': batch['boxes_valid']},
        names, run.path('detections.png'))}
    if evaluation is not None and 'AP50_per_class' in evaluation:
      # The per-class table of the closing note (NaN -> null: a class without test objects).
      table = lambda v: [None if np.isnan(x) else round(float(x), 4) for x in np.asarray(v)]
      with open(run.path('per_class_ap.json'), 'w') as f:
        json.dump({'class_names': list(names), 'AP50': table(evaluation['AP50_per_class']),
                   'voc_AP50': table(evaluation['voc_AP50_per_class'])}, f, indent=1)
    if evaluation is not None and 'pr_precision' in evaluation:
      out['pr_curves'] = plot_pr_curves(evaluation['pr_recall'], evaluation['pr_precision'],
                                        names, run.path('pr_curves.png'))
    return out


def run(config, workdir: str):
  """Trains and evaluates YOLO on canvases (module docstring); resumes in `workdir`."""
  return _supervised.run(Yolo(config), workdir)
