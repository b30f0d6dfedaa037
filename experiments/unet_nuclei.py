r"""U-Net (SAME, batch norm, widths 8-64, 121,042 parameters) on the stardist wheel's real
nuclei tile.

Command:
  python launch.py --config experiments/unet_nuclei.py --workdir runs/unet_nuclei

Produces in the workdir: checkpoints/, metrics.jsonl, TensorBoard events, config.json,
curves.png, segmentation.png (the held-out quadrant: image | truth | prediction | errors),
instances.json (held-out nuclei matched / split / merged / missed by the prediction's
connected components).
Data: 512 crops of 96x96 from three quadrants of the 512x512 tile (125 nuclei), flips and
elastic warps on device (masks and border weights moved with the image); test: the held-out
bottom-right 256x256 quadrant (29 nuclei). Loss: Dice + border-weighted CE (w0 10, sigma 5).
Time and result on the shared 2-core CPU (load ~15 from other sessions): 15 min 25 s wall
(12 min 16 s for the 400 steps); held-out quadrant: foreground Dice 0.9365 (0.923 at step
200), mIoU 0.926, pixel accuracy 0.977; 27 of 29 nuclei matched at IoU >= 0.5, 1 merge
(2 nuclei), 0 splits, 0 missed, 4 spurious components.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_segmentation.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.data.update(name='nuclei', crop=96)
  c.model.widths = (8, 16, 32, 64)
  c.train.update(steps=400, eval_every=200, checkpoint_every=200)
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
