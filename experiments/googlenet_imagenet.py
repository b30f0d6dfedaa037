r"""GoogLeNet on ImageNet through TFDS.

SGD momentum 0.9 (Szegedy et al.), batch 256, lr 0.1, weight decay 1e-4 on kernels only,
dropout 0.2, 90 epochs with cosine (the paper lowers lr 4% every 8 epochs), no auxiliary
heads (the classification loss has no aux term; batch norm makes them unnecessary), no label
smoothing. torchvision's figure: 69.8% top-1.
Data (TFDS imagenet2012 at 224x224, batch 256), warmup and cosine as
experiments/_imagenet.py (the shared recipe: host Inception crop + flip, validation
split, the data directory layout).
With `--config.model.aux_logits=True` the two auxiliary heads train too, each adding
config.loss.aux_weight (0.3, the paper's) times its cross-entropy to the loss.
Command:
  python launch.py --config experiments/googlenet_imagenet.py --workdir runs/googlenet_imagenet
`:smoke` is a 2-step tiny variant at 64x64.
"""
import os
import runpy

import ml_collections

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_imagenet.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  model = arg if arg and arg != 'smoke' else 'googlenet'
  c = _RECIPE['recipe'](arg == 'smoke')
  epoch = _RECIPE['STEPS_PER_EPOCH']
  c.model = ml_collections.ConfigDict(dict(
      name=model, num_classes=1000, width_multiplier=1.0, aux_logits=False, conv_impl='auto'))
  c.loss.label_smoothing = 0.0
  if arg == 'smoke':
    c.model.width_multiplier = 1 / 16
  else:
    c.schedule.warmup_steps = 5 * epoch
    c.train.steps = 90 * epoch
  return c
