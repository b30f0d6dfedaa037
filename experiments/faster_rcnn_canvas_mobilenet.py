r"""Faster R-CNN on the canvases of faster_rcnn_canvas.py with a pretrained MobileNetV2 backbone
(real ImageNet weights, torchvision's mobilenet_v2-b0353104.pth via the offline carrier).

Command:
  python launch.py --config experiments/faster_rcnn_canvas_mobilenet.py \
    --workdir runs/faster_rcnn_canvas_mobilenet

Produces what faster_rcnn_canvas.py produces. Differences: the RPN and RoIAlign sit on
MobileNetV2's 'stage2' (features.6, 32 channels, stride 8: the 8x8 grid of the small backbone
on 64x64 canvases; 'stage3' would be stride 16, a 4x4 grid for 8..25 px digits), inputs are the
gray canvases repeated to RGB and normalised with ImageNet's mean/std, the backbone starts from
ImageNet (config.init_from='imagenet', loaded headless under 'backbone' by
tasks/faster_rcnn.py, batch statistics included) and trains at 0.1x the heads' rate.
Time and result on the 2-core CPU: NOT TRAINED in this session (the CPU time went to the
from-scratch run and the benchmark); `:smoke` is a few-step variant.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_faster_rcnn.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  if arg == 'smoke':
    c = _FAMILY['smoke'](c)
  c.model.update(backbone='mobilenet_v2', backbone_stage='stage2', backbone_norm=False)
  c.data.update(channels=3, normalize='imagenet')
  c.init_from = 'imagenet'
  c.optimizer.lr_mults = (('backbone/.*', 0.1),)
  return c
