r"""YOLOv2 on the multi-digit canvases of yolo_canvas.py with a pretrained MobileNetV2 backbone
(real ImageNet weights, torchvision's mobilenet_v2-b0353104.pth via the offline carrier).

Command:
  python launch.py --config experiments/yolo_canvas_mobilenet.py --workdir runs/yolo_canvas_mobilenet

Produces what yolo_canvas.py produces. Differences: the grid sits on MobileNetV2's 'stage3'
(stride 16: a 4x4 grid on 64x64), inputs are the gray canvases repeated to RGB and normalised
with ImageNet's mean/std, the backbone starts from ImageNet (config.init_from='imagenet',
loaded headless under 'backbone' by tasks/yolo.py) and trains at 0.1x the head's rate.
Time and result on the 2-core CPU: NOT MEASURED yet. On 2026-11-28 the run waited for a
slot of the shared CPU from 11:45 to 13:08 UTC and never got one, so there is no figure and
no difference to the from-scratch run (AP50 0.904) to report. If a 2,000-step run does not
fit the time at hand, shorten it on the command line with --config.train.steps=1000 (or 500,
matching yolo_canvas's evaluations) and say so next to the figures. The run writes
per_class_ap.json (the closing note's per-class AP50 table) next to metrics.jsonl.
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
