r"""The segmentation family's base config (not an experiment): every key that
tasks/segmentation.py and the supervised runner (tasks/_supervised.py) read, with its
default. Experiments derive from `base()`; none derives from a sibling experiment.

Sequence-valued keys are tuples, so the command line can override them, e.g.
  --config.model.widths="(16, 32, 64)"  --config.loss.class_weights="(0.5, 2.0)"
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'segmentation'
  c.seed = 0
  c.devices = 0              # devices in the ('data',) mesh; 0 = all

  c.model = ml_collections.ConfigDict(dict(
      name='unet',
      widths=(16, 32, 64, 128),  # per level; the last is the bottom (paper: 64 ... 1024)
      padding='SAME',        # SAME: output = input size | VALID: the paper's network
      batch_norm=True,
      conv_impl='xla',
  ))

  c.data = ml_collections.ConfigDict(dict(
      name='nuclei',         # nuclei (stardist tile) | canvases (digit canvases) | voc_masks
      crop=128,              # nuclei: train crop side (inside the three train quadrants)
      num_train=512,         # nuclei: crops; canvases: canvases
      num_test=200,          # canvases: test canvases (nuclei: the held-out quadrant)
      test_quadrant=3,       # nuclei: 0 TL, 1 TR, 2 BL, 3 BR
      crop_seed=0,           # crop positions (nuclei) / canvas generator seed (canvases)
      canvas=ml_collections.ConfigDict(dict(
          size=(64, 64), objects=(1, 3), max_boxes=0, scale=(0.75, 1.25), max_iou=0.0,
          fragments=0, noise=0.0, texture=0.0, channels=1, source='mnist')),
      batch_size=8,
      eval_batch_size=1,
      augment='flip_lr|flip_ud|elastic(alpha=60.0, sigma=8.0)',  # masks move with the image
      normalize='',          # '' | 'imagenet'
      photo_size=(64, 96),   # voc_masks: (H, W) the photos and masks are resized to
  ))

  c.init_from = ''           # '' or another run's workdir
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.loss = ml_collections.ConfigDict(dict(
      name='dice_ce',        # ce | dice | dice_ce
      ce_weight=1.0,
      dice_weight=1.0,
      class_weights=(),      # () = from class_balance; else one per class
      class_balance='',      # '' (all 1) | 'balanced' (P / (K P_c), train pixels) | 'sqrt'
      ignore_index=-1,       # < 0: none
      border=True,           # nuclei: CE pixel weights = the U-Net border weight map
      border_w0=10.0,        # the paper's w0 and sigma (pixels)
      border_sigma=5.0,
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw', learning_rate=3e-3, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=0.0,
      b1=0.9, b2=0.999, eps=1e-8, lr_mults=()))
  c.schedule = ml_collections.ConfigDict(dict(
      name='warmup_cosine', warmup_steps=50, end_fraction=0.0, boundaries=(), decay_rate=0.1))
  c.train = ml_collections.ConfigDict(dict(
      steps=600, log_every=50, eval_every=200, checkpoint_every=200, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # 'float32' | 'bfloat16': the dtype the model computes in; parameters, optimizer state,
      # batch-norm statistics, loss and gradients stay float32 (tasks/_precision.py)
      compute_dtype='float32'))
  return c


def smoke(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The tests' few-step variant: tiny crops, batches and model."""
  c.data.update(crop=32, num_train=16, num_test=4, batch_size=4, eval_batch_size=4,
                augment='flip_lr|elastic(alpha=8.0, sigma=3.0)')
  c.data.canvas.update(size=(32, 32), scale=(0.5, 1.0))
  c.model.widths = (4, 8)
  c.schedule.warmup_steps = 1
  c.train.update(steps=3, log_every=1, eval_every=3, checkpoint_every=3)
  return c
