r"""ResNet-18 (CIFAR stem) on CIFAR-10 through TensorFlow Datasets, the standard CIFAR recipe.

He et al. 2015 (sec. 4.2) as most CIFAR ResNet-18s train it: SGD momentum 0.9 (Nesterov),
batch 128, lr 0.1, weight decay 5e-4 on kernels only (no decay on batch-norm params and
biases), 1-epoch linear warmup then cosine to 0 over 200 epochs (78,200 steps), no label
smoothing; augmentation on device: random crop from 4-pixel zero padding + horizontal flip.
Reference accuracy of this recipe: about 95% (e.g. kuangliu/pytorch-cifar reports 95.4%).
`:<model>` picks another registered model with the same recipe (e.g. `:resnet50`).

Needs a prepared TFDS cifar10 (`tfds build cifar10 --file_format=array_record` where there is
network; --config.data.dir=<its data dir>). Offline this stops with an error that says so.
Command:
  python launch.py --config experiments/resnet_cifar10.py --workdir runs/resnet_cifar10
`:smoke` is a 4-step, 1/16-width variant (the tests run it on tfds.testing.mock_data).
"""
import ml_collections

STEPS_PER_EPOCH = 50_000 // 128  # 390


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'classification'
  c.seed = 0
  c.devices = 0
  model = arg if arg and arg != 'smoke' else 'resnet18'
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=10, small_input=True, width_multiplier=1.0, conv_impl='xla'))
  c.data = ml_collections.ConfigDict(dict(
      name='tfds:cifar10', image_size=32, resize='pad', channels=3, batch_size=128,
      eval_batch_size=1000, dir='', augment='pad_crop(pad=4)|flip_lr'))
  c.loss = ml_collections.ConfigDict(dict(label_smoothing=0.0))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='momentum', learning_rate=0.1, momentum=0.9, nesterov=True,
      weight_decay=5e-4, decay_norm_and_bias=False, grad_clip_norm=0.0))
  c.schedule = ml_collections.ConfigDict(dict(
      name='cosine', warmup_steps=STEPS_PER_EPOCH, end_fraction=0.0))
  c.train = ml_collections.ConfigDict(dict(
      steps=200 * STEPS_PER_EPOCH, log_every=100, eval_every=10 * STEPS_PER_EPOCH,
      checkpoint_every=5 * STEPS_PER_EPOCH, keep_checkpoints=2))
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
    c.data.update(batch_size=8, eval_batch_size=8)
    c.schedule.warmup_steps = 1
    c.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  return c
