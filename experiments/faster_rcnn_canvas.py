r"""Faster R-CNN from scratch on 96x96 multi-digit canvases (1..6 digits, overlaps up to IoU 0.2).

Command:
  python launch.py --config experiments/faster_rcnn_canvas.py --workdir runs/faster_rcnn_canvas

Produces in the workdir: checkpoints/, metrics.jsonl (train/rpn_objectness, rpn_box,
classifier, box_reg; eval/AP, AP50, AP75, voc_AP50, ...), TensorBoard events, config.json,
curves.png, proposals.png (top 50 RPN proposals on 16 held-out canvases), detections.png
(score > 0.6), pr_curves.png.
Data: the YOLO experiment's canvases (12,000 train from the 4,000 train digits, 1,000 test
from the 1,000 disjoint test digits). Model: SmallBackbone (32/64/64, stride 8: 12x12 grid),
9 anchors per cell (16/32/48 px x 3 ratios), RPN + RoIAlign 7x7 + TwoMLPHead(256); AdamW 1e-3
with warmup and cosine, 4,000 steps of batch 16.
Time and result on the 2-core CPU: not measured yet (only the smoke run was run here).
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_faster_rcnn.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']()
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
