r"""ResNet-18 (CIFAR stem, 1/4 width) on Fashion-MNIST at 32x32, the torchvision-style recipe.

SGD momentum 0.9 (Nesterov), L2 weight decay 5e-4 on kernels only (not on batch-norm
params or biases), linear warmup then cosine decay, label smoothing 0.1 (torchvision's
current ResNet recipe). 28x28 images are zero-padded to 32x32, one channel.
`model.width_multiplier=0.25` (stages 16/32/64/128 channels, 0.70 M parameters) keeps a run
to minutes on a laptop CPU; `--config.model.width_multiplier=1` is the standard CIFAR
ResNet-18 (11.2 M). Needs Debian's dataset-fashion-mnist (or --config.data.name=mnist).

Command:
  python launch.py --config experiments/resnet_fashion_mnist.py --workdir runs/resnet_fashion_mnist

Produces checkpoints/, metrics.jsonl, TensorBoard events, config.json, curves.png,
confusion.png, predictions.png. Time and result on a 2-core CPU: see docs/zoo.md.
`:smoke` is a tiny few-step variant (1/16 width) that the tests run.
"""
import ml_collections


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.task = 'classification'
  c.seed = 0
  c.devices = 0

  c.model = ml_collections.ConfigDict(dict(
      name='resnet18', num_classes=10, small_input=True, width_multiplier=0.25,
      zero_init_residual=False, conv_impl='xla'))
  c.data = ml_collections.ConfigDict(dict(
      name='fashion_mnist', image_size=32, resize='pad', channels=1,
      batch_size=64, eval_batch_size=500, dir=''))
  c.loss = ml_collections.ConfigDict(dict(label_smoothing=0.1))
  c.optimizer = ml_collections.ConfigDict(dict(
      name='momentum', learning_rate=0.05, momentum=0.9, nesterov=True,
      weight_decay=5e-4, decay_norm_and_bias=False, grad_clip_norm=0.0))
  c.schedule = ml_collections.ConfigDict(dict(name='cosine', warmup_steps=100, end_fraction=0.0))
  c.train = ml_collections.ConfigDict(dict(
      steps=800, log_every=50, eval_every=400, checkpoint_every=400, keep_checkpoints=2))

  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
    c.data.update(batch_size=8, eval_batch_size=8)
    c.schedule.warmup_steps = 1
    c.train.update(steps=4, log_every=2, eval_every=4, checkpoint_every=4)
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
