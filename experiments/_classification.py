r"""The classification family's base config (not an experiment): every key that
tasks/classification.py and the supervised runner (tasks/_supervised.py) read, with its
default. Experiments derive from `base()` and change what their recipe needs; none derives
from a sibling experiment, so editing one experiment never changes another.

Sequence-valued keys are tuples, so the command line can override them, e.g.
  --config.optimizer.lr_mults="(('features/.*', 0.1),)"  --config.transfer.reinit="('params/head/.*',)"
"""
import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'classification'
  c.seed = 0
  c.devices = 0  # devices in the ('data',) mesh; 0 = all

  # `name` picks the registered model; every other key is passed to it as a kwarg (the
  # experiment lists the ones it sets; cnn_jax.models.create documents the rest).
  c.model = ml_collections.ConfigDict(dict(name='lenet5'))

  c.data = ml_collections.ConfigDict(dict(
      name='mnist',          # mnist | digits | fashion_mnist | tfds:<name>
      dir='',                # dataset directory override ('' = the source's default)
      image_size=32,         # inputs are fitted to image_size x image_size
      resize='pad',          # pad (centre zero-padding) | resize (antialiased bilinear)
      channels=1,            # 1 | 3 (grayscale is repeated, RGB turned to luma)
      batch_size=128,        # global batch, split over devices and processes
      eval_batch_size=500,
      augment='',            # on-device augmentation spec (cnn_jax.ops.augment), '' = none
      host_augment='',       # host, before batching, on images of any size: '' | inception_crop|flip_lr
      normalize='',          # '' (inputs in [0, 1]) | 'imagenet' (torchvision's mean/std)
      train_per_class=0,     # > 0: keep only this many training images per class
  ))

  # Start from other weights: '' (fresh), 'imagenet', a weight file, or a run's workdir;
  # parameter paths matching transfer.reinit (regexes) stay fresh (e.g. a new head).
  c.init_from = ''
  c.transfer = ml_collections.ConfigDict(dict(reinit=()))

  c.loss = ml_collections.ConfigDict(dict(
      label_smoothing=0.0,
      aux_weight=0.3,        # GoogLeNet with model.aux_logits=True: weight of each aux head
  ))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='adamw',          # sgd | momentum | adam | adamw
      learning_rate=1e-3, momentum=0.9, nesterov=False,
      weight_decay=0.0, decay_norm_and_bias=False, grad_clip_norm=0.0,
      b1=0.9, b2=0.999, eps=1e-8,   # Adam's
      lr_mults=(),           # ((regex, multiplier), ...) over parameter paths; 0 freezes
  ))
  c.schedule = ml_collections.ConfigDict(dict(
      name='cosine',         # constant | cosine | warmup_cosine | warmup_constant | step
      warmup_steps=0, end_fraction=0.0,
      boundaries=(), decay_rate=0.1,   # 'step': multiply by decay_rate at each boundary
  ))
  c.train = ml_collections.ConfigDict(dict(
      steps=1000, log_every=50, eval_every=500, checkpoint_every=500, keep_checkpoints=2,
      preemption_check_every=10,  # several processes: steps between SIGTERM checks
      # 'float32' | 'bfloat16': the dtype the model computes in; parameters, optimizer state,
      # batch-norm statistics, loss and gradients stay float32 (tasks/_precision.py)
      compute_dtype='float32'))
  # Test-time evaluators beside the plain one (tasks/test_time.py, docs/test_time.md):
  # multicrop averages the softmax over crops of the test image padded by crop_border px
  # ('' = off, 'flip' = image + mirror, 'ten_crop' = 4 corners + centre and their mirrors,
  # 'five_crop' = the same without mirrors);
  # ensemble lists other runs' workdirs whose probabilities are averaged with this run's.
  c.eval = ml_collections.ConfigDict(dict(multicrop='', crop_border=2, ensemble=()))
  return c


def smoke(c: ml_collections.ConfigDict, batch: int = 8, steps: int = 4) -> ml_collections.ConfigDict:
  """The tests' few-step variant of a recipe: tiny batches, one warmup step, eval at the end."""
  c.data.update(batch_size=batch, eval_batch_size=batch)
  c.schedule.warmup_steps = 1
  c.train.update(steps=steps, log_every=2, eval_every=steps, checkpoint_every=steps)
  return c
