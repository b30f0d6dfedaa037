r"""The localization family's base config (not an experiment): every key that
tasks/localization.py and the supervised runner (tasks/_supervised.py) read, with its
default. Experiments derive from `base()`; none derives from a sibling experiment.

Sequence-valued keys are tuples, so the command line can override them, e.g.
  --config.data.canvas.scale="(0.5, 1.0)"  --config.model.widths="(16, 32, 64)"
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'localization'
  c.mode = 'box'             # box: y = [p_c, bx, by, bh, bw, c1..cn] | landmarks: 2 L points
  c.seed = 0
  c.devices = 0              # devices in the ('data',) mesh; 0 = all

  c.model = ml_collections.ConfigDict(dict(
      name='localization',   # (for messages; the task builds models.localization.LocalizationNet)
      backbone='',           # '' = LocalizationNet's small ConvBackbone; or a registry name
      widths=(8, 16, 32),    # ConvBackbone stage widths (conv-BN-ReLU + 2x2 max pool each)
      convs=1,               # ConvBackbone 3x3 convolutions per stage
      hidden=128,            # shared hidden layer before the heads
      dropout=0.0,
  ))

  c.data = ml_collections.ConfigDict(dict(
      name='canvases',
      # data.canvases.CanvasConfig: canvas size (H, W), objects (min, max) per canvas,
      # pasted side = round(28 * scale), overlap policy, clutter, digit source
      canvas=ml_collections.ConfigDict(dict(
          size=(32, 32), objects=(0, 1), max_boxes=0, scale=(0.6, 1.0), max_iou=0.0,
          fragments=0, noise=0.0, texture=0.0, channels=1, source='mnist', source_dir='')),
      num_train=20000,       # canvases generated from the 4,000 train digits
      num_test=2000,         # from the 1,000 test digits (disjoint)
      canvas_seed=0,
      channels=1,            # model input channels (3 repeats gray, for ImageNet backbones)
      batch_size=64,
      eval_batch_size=500,
      augment='',            # on-device augmentation (ops.augment); boxes/points move too
      normalize='',          # '' | 'imagenet'
  ))

  c.init_from = ''           # '' or another run's workdir
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.loss = ml_collections.ConfigDict(dict(
      form='practical',      # practical (BCE, box loss, CE) | teaching (all L2)
      box='l2',              # l2 | smooth_l1 | giou (practical form)
      box_weight=5.0,        # the box term is ~0.01 when close; weight it up
      class_weight=1.0,
      normalize='present',   # masked terms averaged over examples with an object | batch
      beta=1.0 / 9,          # smooth_l1's
      landmarks='l2',        # l2 | smooth_l1 (mode landmarks)
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=3e-3, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=0.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='warmup_cosine', warmup_steps=100, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=2500, log_every=100, eval_every=500, checkpoint_every=500, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # only 'float32' here: this family's build_model does not pass a compute dtype to its
      # model, so the runner refuses 'bfloat16' (tasks/_precision.py)
      compute_dtype='float32'))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tests' few-step variant: tiny data, batches and model."""
  c.data.update(num_train=64, num_test=32, batch_size=16, eval_batch_size=16)
  c.model.update(widths=(4, 8), hidden=16)
  c.schedule.warmup_steps = 1
  c.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  return c
