r"""Transfer learning, regime 'finetune': see experiments/_transfer_mobilenet.py for the recipe.

Command (N = labelled training images per class: 10, 50 or 200):
  python launch.py --config experiments/transfer_mobilenet_finetune.py:50 --workdir runs/transfer_mobilenet_finetune_50

Produces the classification workdir (metrics.jsonl, curves, confusion, predictions).
Time and result on a 2-core CPU: the README's transfer-learning table (all three regimes).
`:smoke` is the tests' tiny variant.
"""
import os
import runpy

_RECIPE = runpy.run_path(os.path.join(os.path.dirname(__file__), '_transfer_mobilenet.py'))


def get_config(arg: str | None = None):
  return _RECIPE['transfer_config']('finetune', arg)
