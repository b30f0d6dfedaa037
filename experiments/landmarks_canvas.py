r"""Landmarks on 32x32 digit canvases: the 5 keypoints of the one digit on each canvas.

Command:
  python launch.py --config experiments/landmarks_canvas.py --workdir runs/landmarks_canvas

The points (data.canvases.KEYPOINT_NAMES) are exact functions of the pasted ink: top,
bottom, left and right extreme points and the intensity-weighted centre. Produces
checkpoints/, metrics.jsonl, TensorBoard events, config.json, curves.png, landmarks.png.
Reported: NME normalised by the box diagonal (eval/nme_box_diagonal) and by the left-right
distance (eval/nme_left_right), and the mean error in pixels.
Model: LocalizationNet with the small ConvBackbone (as localization_canvas) and a landmark
head of 2 x 5 sigmoid outputs (normalised x / W, y / H); loss: mean squared distance in
normalised units; AdamW 3e-3, warmup + cosine, 2,500 steps of batch 64; 20,000 train / 2,000
test canvases (disjoint digits), one digit of side 17..28 px each.
Time and result on the 2-core CPU (measured 2026-11-28, load average ~15 from other jobs:
29% of a core, 120 s CPU time): 6 min 53 s wall for the whole command. On the 2,000 test
canvases: NME 0.0440 normalised by the box diagonal (0.0731 by the left-right distance),
mean point error 0.88 px.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_localization.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  c.mode = 'landmarks'
  c.data.canvas.objects = (1, 1)
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
