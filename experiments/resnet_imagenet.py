r"""ResNet-50 on ImageNet (ILSVRC-2012) through TensorFlow Datasets, torchvision's recipe.

SGD momentum 0.9, batch 256, lr 0.1 (x batch / 256, Goyal et al.), weight decay 1e-4 on
kernels only (no decay on batch-norm params and biases), 5-epoch linear warmup then cosine
over 90 epochs, label smoothing 0.1, zero-initialised last BN of each block; augmentation on
device: Inception random-resized crop (scale 0.08-1) + horizontal flip. Images are resized to
224x224 on the host first (the pipeline's 'resize'; no aspect-preserving 256 + centre crop for
evaluation). torchvision's figures for ResNet-50 v1.5: 76.1% top-1 (its 90-epoch step
schedule), 80.9% with its longer "new recipe".
`:<model>` picks another registered model with the same recipe (e.g. `:resnet18`, `:resnet152`).

Needs a prepared TFDS imagenet2012 (manual download + `tfds build imagenet2012
--file_format=array_record`; --config.data.dir=<its data dir>), and a data layer that
evaluates on its 'validation' split and resizes variable-size images one by one (see
docs/zoo.md: not yet in cnn_jax.data). Offline this stops with an error that says so.
Command:
  python launch.py --config experiments/resnet_imagenet.py --workdir runs/resnet_imagenet
`:smoke` is a 2-step, 1/16-width, 64x64 variant.
"""
import ml_collections

TRAIN_IMAGES = 1_281_167


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  batch = 256
  steps_per_epoch = TRAIN_IMAGES // batch  # 5,004
  c = ml_collections.ConfigDict()
  c.task = 'classification'
  c.seed = 0
  c.devices = 0
  model = arg if arg and arg != 'smoke' else 'resnet50'
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=1000, zero_init_residual=True, width_multiplier=1.0,
      conv_impl='xla'))
  c.data = ml_collections.ConfigDict(dict(
      name='tfds:imagenet2012', image_size=224, resize='resize', channels=3, batch_size=batch,
      eval_batch_size=1000, dir='', augment='random_resized_crop(scale=(0.08, 1.0))|flip_lr'))
  c.loss = ml_collections.ConfigDict(dict(label_smoothing=0.1))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='momentum', learning_rate=0.1 * batch / 256, momentum=0.9, nesterov=False,
      weight_decay=1e-4, decay_norm_and_bias=False, grad_clip_norm=0.0))
  c.schedule = ml_collections.ConfigDict(dict(
      name='cosine', warmup_steps=5 * steps_per_epoch, end_fraction=0.0))
  c.train = ml_collections.ConfigDict(dict(
      steps=90 * steps_per_epoch, log_every=100, eval_every=5 * steps_per_epoch,
      checkpoint_every=steps_per_epoch, keep_checkpoints=2))
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
    c.data.update(image_size=64, batch_size=8, eval_batch_size=8)
    c.schedule.warmup_steps = 1
    c.train.update(steps=2, log_every=1, eval_every=2, checkpoint_every=2)
  return c
