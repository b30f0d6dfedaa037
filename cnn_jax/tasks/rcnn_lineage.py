"""R-CNN and Fast R-CNN on multi-digit canvases with selective-search proposals; the lineage table.

config.mode = 'train' (experiments/rcnn_canvas.py, experiments/fast_rcnn_canvas.py): the
supervised runner trains models.rcnn.RCNN or FastRCNN (config.model.name 'rcnn' |
'fast_rcnn') on the canvases of tasks/faster_rcnn.py. Proposals: data.selective_search on
every canvas, computed once on the host and cached (`cached_propose`; the first run logs the
seconds it took and writes them with the proposal recall to proposals.json), carried in the
batch as 'proposals' `[B, K, 4]` + 'proposal_valid'. Class 0 is the background, digit d is
class d + 1 in the model and d again in the detections the evaluator reads. Loss: Fast
R-CNN's (losses.faster_rcnn.fastrcnn_loss) on the sampled RoIs. Eval: COCO AP / AP50 / AP75 +
VOC AP50 (metrics.detection_eval) and the proposals' recall at IoU 0.5 / 0.7
(`proposal_recall`). Pictures: proposals.png, detections.png, pr_curves.png.

config.mode = 'compare' (experiments/bench_rcnn_lineage.py): loads the trained workdirs of
R-CNN, Fast R-CNN and Faster R-CNN (config.compare.workdirs) and, on the same held-out
canvases: proposal recall of selective search vs the RPN, detection AP of each, inference
images/s of each network (bench.time_compiled, batch config.data.eval_batch_size) and
selective search's seconds per image; writes lineage.json and lineage_proposals.png.
"""
import json
import os

import jax
import ml_collections
import numpy as np
from absl import logging

from cnn_jax.data import canvases
from cnn_jax.data import selective_search as ss
from cnn_jax.losses.faster_rcnn import fastrcnn_loss
from cnn_jax.metrics.detection_eval import DetectionAccumulator
from cnn_jax.models.rcnn import RCNN, FastRCNN
from cnn_jax.ops import boxes as box_ops
from cnn_jax.tasks import _supervised
from cnn_jax.tasks.faster_rcnn import FasterRCNNTask

MODELS = {'rcnn': RCNN, 'fast_rcnn': FastRCNN}
RECALL_IOUS = (0.5, 0.7)


def proposal_recall(gt_boxes, gt_valid, proposals, proposal_valid, ious=RECALL_IOUS) -> dict:
  """Fraction of the valid ground-truth boxes `[B, G, 4]` covered by at least one valid
  proposal `[B, K, 4]` with IoU >= t, for each t: {'recall50': ..., 'recall70': ...}."""
  iou = np.asarray(jax.jit(jax.vmap(box_ops.box_iou))(gt_boxes, proposals))   # [B, G, K]
  best = np.where(proposal_valid[:, None, :], iou, 0).max(-1)
  return {f'recall{round(t * 100)}': float((best[gt_valid] >= t).mean()) for t in ious}


def selective_search_config(config) -> ss.SelectiveSearchConfig:
  p = {k: v for k, v in config.proposals.to_dict().items() if k != 'num'}
  p['scales'] = tuple(float(s) for s in p['scales'])
  p['strategies'] = tuple(tuple(float(a) for a in s) for s in p['strategies'])
  return ss.SelectiveSearchConfig(**p)


class RCNNLineageTask(_supervised.Task):
  """See the module docstring."""
  progress = ('loss', 'classifier', 'box_reg')

  def __init__(self, config):
    super().__init__(config)
    if config.model.name not in MODELS:
      raise ValueError(f'config.model.name={config.model.name!r}: one of {sorted(MODELS)}.')
    self.canvas = canvases.config_from(config.data.canvas.to_dict())
    self.proposals_info = {}

  def load_data(self):
    d, k = self.config.data, self.config.proposals.num
    dataset = canvases.load(self.canvas, d.num_train, d.num_test, seed=d.canvas_seed)
    canvases.check_boxes(dataset.train.arrays['boxes'], dataset.train.arrays['valid'],
                         self.canvas.size, 'training canvases')
    cfg = selective_search_config(self.config)
    for name, split in (('test', dataset.test), ('train', dataset.train)):
      a = split.arrays
      a['proposals'], a['proposal_valid'], seconds = ss.cached_propose(a['image'], k, cfg,
                                                                       progress=True)
      self.proposals_info[name] = dict(
          images=len(split), seconds=seconds, seconds_per_image=seconds / len(split),
          proposals_per_image=float(a['proposal_valid'].sum(1).mean()),
          **proposal_recall(a['boxes'], a['valid'], a['proposals'], a['proposal_valid']))
      logging.info('selective search, %s: %s', name, self.proposals_info[name])
    return dataset

  def build_model(self, dataset):
    m = {k: tuple(v) if isinstance(v, list) else v for k, v in self.config.model.to_dict().items()}
    if 'backbone' in m:
      m['backbone'] = m['backbone'] or None   # '' = FasterRCNN's SmallBackbone
    return MODELS[m.pop('name')](num_classes=dataset.num_classes + 1, **m)

  def prepare(self, examples):
    out = FasterRCNNTask.prepare(self, examples)
    out['proposals'] = examples['proposals'].astype(np.float32)
    out['proposal_valid'] = examples['proposal_valid']
    return out

  def inputs(self, batch, *constants):
    # Class 0 is the background inside the model: digit d is class d + 1.
    return {'image': batch['image'], 'proposals': batch['proposals'],
            'proposal_valid': batch['proposal_valid'], 'boxes': batch['boxes'],
            'labels': batch['labels'] + 1, 'boxes_valid': batch['boxes_valid']}

  def objective(self, outputs, batch):
    cls, box = fastrcnn_loss(outputs['class_logits'], outputs['box_regression'],
                             outputs['roi_labels'], outputs['roi_targets'], outputs['roi_valid'])
    return cls + box, {'classifier': cls, 'box_reg': box}

  def evaluators(self, run):
    if run.chief:   # the runner has not necessarily made the workdir yet (launch.py has)
      os.makedirs(run.workdir, exist_ok=True)
      with open(run.path('proposals.json'), 'w') as f:
        json.dump(self.proposals_info, f, indent=1)
    predict = lambda outputs, batch: FasterRCNNTask.detections(outputs)
    detection = run.accumulate(predict, lambda: DetectionAccumulator(run.dataset.num_classes),
                               batch_keys=('boxes', 'labels', 'boxes_valid', 'mask'))
    test = self.proposals_info['test']
    recall = {f'proposal_{k}': test[k] for k in test if k.startswith('recall')}
    return {'test': detection, 'proposals': lambda state: recall}

  def pictures(self, run, state, evaluation):
    from cnn_jax.viz.boxes import proposal_pictures
    test = run.dataset.test
    batch = self.prepare(test.get(np.arange(min(16, len(test)))))
    out = jax.device_get(run.predict(state, batch))
    names = run.dataset.class_names
    truth = {'boxes': batch['boxes'], 'labels': batch['labels'], 'valid': batch['boxes_valid']}
    k = self.config.predict.num_proposals
    valid = batch['proposal_valid'][:, :k]
    props = {'boxes': batch['proposals'][:, :k], 'scores': np.ones(valid.shape),
             'labels': np.zeros(valid.shape, np.int32), 'valid': valid}
    det = jax.device_get(FasterRCNNTask.detections(out))
    det['valid'] = det['valid'] & (det['scores'] > self.config.predict.score_threshold)
    return proposal_pictures(batch['image'], props, det, truth, names, run.path, evaluation)


def _trained(workdir: str, num_classes: int):
  """(task, model, variables, config) of a finished run of this task or tasks/faster_rcnn."""
  from cnn_jax.train.pretrained import workdir_variables
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} is missing: config.compare.workdirs must name runs made by '
                            'launch.py (which records config.json there).')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  task = (FasterRCNNTask if config.task == 'faster_rcnn' else RCNNLineageTask)(config)
  model = task.build_model(type('D', (), {'num_classes': num_classes})())
  return task, model, workdir_variables(workdir), config


def compare(config, workdir: str) -> dict:
  """The lineage table (module docstring, mode 'compare'); returns and writes lineage.json."""
  from cnn_jax import bench
  os.makedirs(workdir, exist_ok=True)
  c = config.compare
  lineage = RCNNLineageTask(config)
  dataset = canvases.load(lineage.canvas, 1, config.data.num_test, seed=config.data.canvas_seed)
  test = dataset.test.arrays
  k = config.proposals.num
  cfg = selective_search_config(config)
  test['proposals'], test['proposal_valid'], cached_s = ss.cached_propose(test['image'], k, cfg)
  # Selective search timed live on the first canvases (the cache may be old or loaded).
  n_live = min(c.ss_images, len(test['image']))
  _, _, live_s = ss.propose(test['image'][:n_live], k, cfg)
  report = {'selective_search': dict(
      seconds_per_image=live_s / n_live, images_per_s=n_live / live_s,
      proposals_per_image=float(test['proposal_valid'].sum(1).mean()),
      cached_seconds_per_image=cached_s / len(test['image']),
      **proposal_recall(test['boxes'], test['valid'], test['proposals'], test['proposal_valid']))}
  n_eval = config.data.eval_batch_size
  pictures = {'selective search': (test['proposals'], test['proposal_valid'])}
  for name, wd in c.workdirs.items():
    if not wd:
      continue
    task, model, variables, run_config = _trained(wd, dataset.num_classes)
    batch = lineage.prepare(dataset.test.get(np.arange(len(test['image']))))
    apply = jax.jit(lambda v, b: model.apply(v, task.inputs(b), train=False))
    acc = DetectionAccumulator(dataset.num_classes)
    outs = []
    for s in range(0, len(test['image']), n_eval):
      part = {key: v[s:s + n_eval] for key, v in batch.items()}
      out = jax.device_get(apply(variables, part))
      outs.append(out)
      acc.update(FasterRCNNTask.detections(out), {**part, 'mask': np.ones(len(part['image']))})
    ap = {key: v for key, v in acc.result().items() if key in ('AP', 'AP50', 'AP75', 'voc_AP50')}
    first = {key: v[:n_eval] for key, v in batch.items()}   # compiled by the loop above
    samples, number = bench.time_compiled(lambda: apply(variables, first), runs=c.runs,
                                          warmup=1, min_sample_s=0.0)
    median = float(np.median(samples))
    entry = dict(ap, images_per_s=n_eval / median, median_batch_s=median,
                 batch=n_eval, samples_s=[float(x) for x in samples], workdir=wd)
    if 'proposals' in outs[0]:   # Faster R-CNN: the RPN's proposals
      props = np.concatenate([o['proposals'] for o in outs])
      pvalid = np.concatenate([o['proposal_valid'] for o in outs])
      entry.update(proposals_per_image=float(pvalid.sum(1).mean()),
                   **proposal_recall(test['boxes'], test['valid'], props, pvalid))
      pictures[f'RPN ({name})'] = (props, pvalid)
    else:   # proposals from selective search: the end-to-end rate includes it
      per_image = 1 / entry['images_per_s'] + report['selective_search']['seconds_per_image']
      entry.update(proposals_per_image=report['selective_search']['proposals_per_image'],
                   images_per_s_with_proposals=1 / per_image)
    report[name] = entry
    logging.info('%s: %s', name, {kk: v for kk, v in entry.items() if kk != 'samples_s'})
  report['load_average'] = os.getloadavg()
  with open(os.path.join(workdir, 'lineage.json'), 'w') as f:
    json.dump(report, f, indent=1)
  from cnn_jax.viz.rcnn_lineage import plot_proposals_per_method
  plot_proposals_per_method(test['image'][:c.picture_images] / 255.0,
                            {m: (b[:c.picture_images], v[:c.picture_images])
                             for m, (b, v) in pictures.items()},
                            (test['boxes'], test['valid']), c.picture_proposals,
                            os.path.join(workdir, 'lineage_proposals.png'))
  return report


def run(config, workdir: str):
  """mode 'train': trains and evaluates (resumes in `workdir`); 'compare': the lineage table."""
  if config.mode == 'compare':
    return compare(config, workdir)
  if config.mode != 'train':
    raise ValueError(f"config.mode={config.mode!r}: 'train' or 'compare'.")
  return _supervised.run(RCNNLineageTask(config), workdir)
