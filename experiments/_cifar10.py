r"""The CIFAR-10 recipe shared by the *_cifar10 experiments (not an experiment itself).

He et al. 2015 (sec. 4.2) as most CIFAR ResNet-18s train it: SGD momentum 0.9 (Nesterov),
batch 128, lr 0.1, weight decay 5e-4 on kernels only (no decay on batch-norm params and
biases), 1-epoch linear warmup then cosine to 0 over 200 epochs (78,200 steps), no label
smoothing; augmentation on device: random crop from 4-pixel zero padding + horizontal flip.
Needs a prepared TFDS cifar10 (`tfds build cifar10 --file_format=array_record` where there is
network; --config.data.dir=<its data dir>). Offline this stops with an error that says so.
Keys: experiments/_classification.py.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))
STEPS_PER_EPOCH = 50_000 // 128  # 390


def recipe(smoke: bool) -> ml_collections.ConfigDict:
  """The recipe; `smoke`: the tests' 4-step variant (batch 8)."""
  c = _FAMILY['base']()
  c.data.update(name='tfds:cifar10', image_size=32, resize='pad', channels=3, batch_size=128,
                eval_batch_size=1000, augment='pad_crop(pad=4)|flip_lr')
  c.loss.label_smoothing = 0.0
  c.optimizer.update(name='momentum', learning_rate=0.1, momentum=0.9, nesterov=True,
                     weight_decay=5e-4, decay_norm_and_bias=False)
  c.schedule.update(name='cosine', warmup_steps=STEPS_PER_EPOCH, end_fraction=0.0)
  c.train.update(steps=200 * STEPS_PER_EPOCH, log_every=100, eval_every=10 * STEPS_PER_EPOCH,
                 checkpoint_every=5 * STEPS_PER_EPOCH)
  return _FAMILY['smoke'](c) if smoke else c
