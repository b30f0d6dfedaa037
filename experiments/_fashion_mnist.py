r"""The Fashion-MNIST recipe shared by the zoo's *_fashion_mnist experiments (not an
experiment itself): 32x32x1 (28x28 zero-padded), batch 64, 800 steps, SGD momentum 0.9
(Nesterov) at lr 0.05, L2 weight decay 5e-4 on kernels only (not on batch-norm params or
biases), 100-step linear warmup then cosine, label smoothing 0.1 (torchvision's current
ResNet recipe). Needs Debian's dataset-fashion-mnist (or --config.data.name=mnist).
Keys: experiments/_classification.py.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))


def recipe(smoke: bool) -> ml_collections.ConfigDict:
  """The recipe; `smoke`: the tests' 4-step variant (batch 8)."""
  c = _FAMILY['base']()
  c.data.update(name='fashion_mnist', image_size=32, resize='pad', channels=1, batch_size=64,
                eval_batch_size=500)
  c.loss.label_smoothing = 0.1
  c.optimizer.update(name='momentum', learning_rate=0.05, momentum=0.9, nesterov=True,
                     weight_decay=5e-4, decay_norm_and_bias=False)
  c.schedule.update(name='cosine', warmup_steps=100, end_fraction=0.0)
  c.train.update(steps=800, log_every=50, eval_every=400, checkpoint_every=400)
  return _FAMILY['smoke'](c) if smoke else c
