r"""The R-CNN lineage's base config (not an experiment): every key that tasks/rcnn_lineage.py and
the supervised runner (tasks/_supervised.py) read, with its default. Experiments derive from
`base(model)`; none derives from a sibling experiment.

Data: the YOLO / Faster R-CNN canvases (experiments/_yolo.py: 64x64, 1..4 digits, overlaps up
to IoU 0.2; the same 1,000 held-out canvases, which depend only on num_test and the seed), with
2,000 train canvases (selective search is computed on each of them once), batch 8.
`proposals`: data.selective_search.SelectiveSearchConfig's fields plus `num` (K rows per
image, padded with valid=False when a canvas yields fewer). `model`: models.rcnn.RCNN's
fields ('rcnn') or FastRCNN's = FasterRCNN's backbone / box-head fields ('fast_rcnn', the
same SmallBackbone 32/64/64 and TwoMLPHead 256 as faster_rcnn_canvas). `compare`: the
'compare' mode's trained workdirs and timing (experiments/bench_rcnn_lineage.py).
Sequence-valued keys are tuples, overridable on the command line, e.g.
  --config.proposals.scales="(50., 100.)"
"""
import ml_collections

BOX_HEAD = dict(box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5, box_batch_size_per_image=64,
                box_positive_fraction=0.25, box_score_thresh=0.05, box_nms_thresh=0.5,
                box_detections_per_img=100)
MODELS = {
    'rcnn': dict(warp_size=32, context=2.0, channels=(32, 64, 64), representation_size=256),
    'fast_rcnn': dict(backbone='', backbone_channels=(32, 64, 64), representation_size=256,
                      roi_output_size=7, sampling_ratio=2, aligned=False),
}


def base(model: str = 'rcnn') -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'rcnn_lineage'
  c.mode = 'train'           # 'train' | 'compare'
  c.seed = 0
  c.devices = 0              # devices in the ('data',) mesh; 0 = all

  # fast_rcnn's backbone '' = FasterRCNN's SmallBackbone (backbone_channels), as faster_rcnn's.
  c.model = ml_collections.ConfigDict(dict(name=model, **MODELS[model], **BOX_HEAD))

  c.proposals = ml_collections.ConfigDict(dict(
      num=100, scales=(50.0, 100.0, 200.0), sigma=0.8, min_size=10,
      strategies=((1.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0, 1.0)), colour_bins=25, texture_bins=10,
      min_side=8.0, seed=0))

  c.data = ml_collections.ConfigDict(dict(
      name='canvases',
      canvas=ml_collections.ConfigDict(dict(   # data.canvases.CanvasConfig (as YOLO's)
          size=(64, 64), objects=(1, 4), max_boxes=6, scale=(0.6, 1.2), max_iou=0.2,
          fragments=0, noise=0.0, texture=0.0, channels=1, source='mnist')),
      num_train=2000,
      num_test=1000,
      canvas_seed=0,
      channels=1,
      batch_size=8,
      eval_batch_size=50,
      augment='',
      normalize='',
  ))

  c.init_from = ''
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))
  c.predict = ml_collections.ConfigDict(dict(
      score_threshold=0.6,   # detections drawn in detections.png
      num_proposals=50,      # proposals drawn in proposals.png
  ))
  c.compare = ml_collections.ConfigDict(dict(
      workdirs=ml_collections.ConfigDict(dict(   # '' = left out
          rcnn='', fast_rcnn='', faster_rcnn='', faster_rcnn_tuned='')),
      runs=5,                # timed batches per network (median reported)
      ss_images=50,          # canvases selective search is timed on, live
      picture_images=6, picture_proposals=50))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=1e-3, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=10.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='warmup_cosine', warmup_steps=50, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=500, log_every=100, eval_every=500, checkpoint_every=250, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # only 'float32' here: this family's build_model does not pass a compute dtype to its
      # model, so the runner refuses 'bfloat16' (tasks/_precision.py)
      compute_dtype='float32'))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tests' few-step variant: tiny canvases, proposals, batches and model."""
  c.data.canvas.update(size=(64, 64), objects=(1, 3), max_boxes=4, scale=(0.6, 1.0))
  c.data.update(num_train=8, num_test=4, batch_size=4, eval_batch_size=4)
  c.proposals.update(num=16, scales=(100.0,), strategies=((1.0, 1.0, 1.0, 1.0),))
  if c.model.name == 'rcnn':
    c.model.update(warp_size=16, channels=(8, 8), representation_size=16)
  else:
    c.model.update(backbone_channels=(8, 8, 8), representation_size=16)
  c.model.update(box_batch_size_per_image=16, box_detections_per_img=20)
  c.schedule.warmup_steps = 1
  c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  return c
