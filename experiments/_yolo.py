r"""The YOLO family's base config (not an experiment): every key that tasks/yolo.py and the
supervised runner (tasks/_supervised.py) read, with its default. Experiments derive from
`base()`; none derives from a sibling experiment.

Sequence-valued keys are tuples, so the command line can override them, e.g.
  --config.anchors.boxes="((20, 24), (30, 36))"  --config.model.widths="(16, 32, 64)"
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'yolo'
  c.seed = 0
  c.devices = 0              # devices in the ('data',) mesh; 0 = all

  c.model = ml_collections.ConfigDict(dict(
      name='yolo',           # (for messages; the task builds models.yolo.YOLO)
      backbone='',           # '' = DarknetSmall(widths); or a registry name, built headless
      feature='stage3',      # the zoo backbone's stage the grid sits on (stride 16 for MobileNetV2)
      widths=(16, 32, 64),   # DarknetSmall: 3x3 conv-BN-leaky + 2x2 pool per stage -> stride 8
      head_width=128,        # the head's 3x3 conv
      conv_impl='xla',
  ))
  c.anchors = ml_collections.ConfigDict(dict(
      boxes=(),              # ((w, h), ...) pixels; () = k-means (1 - IoU) on the training boxes
      k=5,                   # anchors by k-means
      iterations=100,        # Lloyd steps
      curve=(1, 2, 3, 4, 5, 6, 7, 8, 9),  # k values of the average-IoU curve (YOLOv2's Table 1)
      report=True,           # compute the curve and the (cell, anchor) assignment rate at start
  ))

  c.data = ml_collections.ConfigDict(dict(
      name='canvases',
      canvas=ml_collections.ConfigDict(dict(   # data.canvases.CanvasConfig
          size=(64, 64), objects=(1, 4), max_boxes=6, scale=(0.6, 1.2), max_iou=0.2,
          fragments=0, noise=0.0, texture=0.0, channels=1, source='mnist')),
      num_train=8000,        # canvases from the 4,000 train digits
      num_test=1000,         # from the 1,000 test digits (disjoint)
      canvas_seed=0,
      channels=1,            # model input channels (3 repeats gray, for ImageNet backbones)
      batch_size=32,
      eval_batch_size=100,
      augment='',            # on-device augmentation (ops.augment); boxes move too
      normalize='',          # '' | 'imagenet'
  ))

  c.init_from = ''           # '' | another run's workdir | 'imagenet' (zoo backbone only)
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.loss = ml_collections.ConfigDict(dict(     # losses.yolo.YoloLossConfig (YOLOv2's defaults)
      object_scale=5.0, noobject_scale=1.0, coord_scale=1.0, class_scale=1.0,
      ignore_threshold=0.6, rescore=True, scale_small_boxes=True, class_loss='softmax_ce'))
  c.predict = ml_collections.ConfigDict(dict(
      score_threshold=0.6,   # the course's p_c x P(class) cut for pictures and predictions
      eval_score_threshold=0.005,  # for mAP (the whole precision-recall curve)
      iou_threshold=0.5,     # per-class NMS: suppress when IoU > this
      max_detections=100,
      pre_nms_top_k=0,       # 0 = every (cell, anchor) enters NMS
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=2e-3, momentum=0.9, nesterov=False,
      weight_decay=5e-4, decay_norm_and_bias=False, grad_clip_norm=10.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='warmup_cosine', warmup_steps=200, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=2000, log_every=100, eval_every=500, checkpoint_every=500, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # only 'float32' here: this family's build_model does not pass a compute dtype to its
      # model, so the runner refuses 'bfloat16' (tasks/_precision.py)
      compute_dtype='float32'))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tests' few-step variant: tiny data, batches and model."""
  c.data.canvas.size = (48, 48)
  c.data.canvas.objects = (1, 3)
  c.data.canvas.max_boxes = 4
  c.data.canvas.scale = (0.6, 1.0)
  c.data.update(num_train=64, num_test=16, batch_size=8, eval_batch_size=8)
  c.model.update(widths=(4, 8, 8), head_width=8)
  c.anchors.update(k=3, iterations=10, report=False)
  c.schedule.warmup_steps = 1
  c.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  return c
