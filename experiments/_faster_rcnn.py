r"""The Faster R-CNN family's base config (not an experiment): every key that
tasks/faster_rcnn.py and the supervised runner (tasks/_supervised.py) read, with its default.
Experiments derive from `base()`; none derives from a sibling experiment.

`model` holds models.faster_rcnn.FasterRCNN's fields (torchvision's defaults where the
canvases allow: RPN NMS 0.7, fg/bg 0.7/0.3, 256 anchors at <= 50% positive; box head fg 0.5,
score 0.05, per-class NMS 0.5, 100 detections; RoIAlign 7x7, sampling ratio 2, aligned False).
Scaled down for 1..4 digits on a 2-core CPU: RPN top-n 300 -> 150 proposals in training,
300 -> 100 at test (torchvision 2000/2000, 1000/1000), 64 RoIs per image at <= 25% positive
(torchvision 512; Fast R-CNN's paper used 64). Anchor sizes suit the canvases' digit boxes (2..25 x 8..25 px).
Sequence-valued keys are tuples, overridable on the command line, e.g.
  --config.model.anchor_sizes="(16., 32.)"
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'faster_rcnn'
  c.seed = 0
  c.devices = 0              # devices in the ('data',) mesh; 0 = all

  c.model = ml_collections.ConfigDict(dict(
      name='faster_rcnn',    # (for messages; the task builds models.faster_rcnn.FasterRCNN)
      backbone='',           # '' = SmallBackbone(backbone_channels); or a zoo name, headless
      backbone_stage='stage3',   # the zoo backbone's stage the RPN sits on
      backbone_channels=(32, 64),  # small-backbone stages (each starts at stride 2): stride 4
      backbone_depth=3,      # 3x3 convs per small-backbone stage (the first strided)
      backbone_norm=True,    # batch norm after each small-backbone conv
      anchor_sizes=(12.0, 16.0, 24.0),   # the digits' boxes: 2..25 px wide, 8..25 px high
      aspect_ratios=(1.0, 2.0, 3.0),     # height / width (torchvision's): digits stand upright
      fpn_stages=(),         # () = one level; e.g. ('stage1', 'stage2'): FPN on those stages,
      fpn_channels=64,       #   then anchor_sizes needs one size per level (+1 pooled level)
      fpn_canonical_scale=224.0, fpn_canonical_level=4,
      rpn_pre_nms_top_n_train=300, rpn_post_nms_top_n_train=150,
      rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
      rpn_nms_thresh=0.7, rpn_fg_iou_thresh=0.7, rpn_bg_iou_thresh=0.3,
      rpn_batch_size_per_image=256, rpn_positive_fraction=0.5,
      box_fg_iou_thresh=0.5, box_bg_iou_thresh=0.5,
      box_batch_size_per_image=64, box_positive_fraction=0.25,
      box_score_thresh=0.05, box_nms_thresh=0.5, box_detections_per_img=100,
      representation_size=256, roi_output_size=7, sampling_ratio=2, aligned=False,
  ))

  c.data = ml_collections.ConfigDict(dict(
      name='canvases',
      canvas=ml_collections.ConfigDict(dict(   # data.canvases.CanvasConfig (as YOLO's)
          size=(64, 64), objects=(1, 4), max_boxes=6, scale=(0.6, 1.2), max_iou=0.2,
          fragments=0, noise=0.0, texture=0.0, channels=1, source='mnist')),
      num_train=8000,        # = experiments/_yolo.py's canvases (same seed: same test set)
      num_test=1000,
      canvas_seed=0,
      channels=1,            # model input channels (3 repeats gray, for ImageNet backbones)
      batch_size=16,
      eval_batch_size=50,
      augment='',
      normalize='',          # '' | 'imagenet'
  ))

  c.init_from = ''           # '' | another run's workdir | 'imagenet' (zoo backbone only)
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.predict = ml_collections.ConfigDict(dict(
      score_threshold=0.6,   # detections drawn in detections.png
      num_proposals=50,      # proposals drawn in proposals.png
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=1e-3, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=10.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='warmup_cosine', warmup_steps=200, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=1500, log_every=100, eval_every=500, checkpoint_every=500, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # only 'float32' here: this family's build_model does not pass a compute dtype to its
      # model, so the runner refuses 'bfloat16' (tasks/_precision.py)
      compute_dtype='float32'))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tests' few-step variant: tiny data, batches and model."""
  c.data.canvas.size = (64, 64)
  c.data.canvas.objects = (1, 3)
  c.data.canvas.max_boxes = 4
  c.data.canvas.scale = (0.6, 1.0)
  c.data.update(num_train=32, num_test=8, batch_size=4, eval_batch_size=4)
  c.model.update(backbone_channels=(8, 8, 8), representation_size=16,
                 rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50,
                 rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50,
                 box_batch_size_per_image=32, box_detections_per_img=20)
  c.schedule.warmup_steps = 1
  c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  return c
