r"""YOLOv2 on the multi-digit canvases of yolo_canvas.py with a pretrained MobileNetV2 backbone
(real ImageNet weights, torchvision's mobilenet_v2-b0353104.pth via the offline carrier).

Command:
  python launch.py --config experiments/yolo_canvas_mobilenet.py --workdir runs/yolo_canvas_mobilenet

Produces what yolo_canvas.py produces. Differences: the grid sits on MobileNetV2's 'stage3'
(stride 16: a 4x4 grid on 64x64), inputs are the gray canvases repeated to RGB and normalised
with ImageNet's mean/std, the backbone starts from ImageNet (config.init_from='imagenet',
loaded headless under 'backbone' by tasks/yolo.py) and trains at 0.1x the head's rate.
Time and result on the 2-core CPU: not measured in this session (the from-scratch run took
the CPU time); the measured difference is still to be reported.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_yolo.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.model.update(backbone='mobilenet_v2', feature='stage3', head_width=128)
  c.data.update(channels=3, normalize='imagenet')
  c.init_from = 'imagenet'
  c.optimizer.lr_mults = (('backbone/.*', 0.1),)
  if arg == 'smoke':
    c = _FAMILY['smoke'](c)
    c.model.update(backbone='mobilenet_v2', feature='stage3', head_width=8)
  return c
