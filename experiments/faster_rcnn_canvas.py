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
Time and result on the 2-core CPU: the full 4,000 x 16 schedule is not measured yet. Measured
here (load average 9-17, machine shared): a shorter schedule on 4,000 train / 200 test canvases,
batch 8, 500 steps (6 min 34 s, 1.3-2 steps/s) -> AP 0.339 / AP50 0.617 / AP75 0.337, then
1,400 more steps from that run (--config.init_from, fresh warmup + cosine; 15 min 30 s) ->
AP 0.562 / AP50 0.856 / AP75 0.653 / VOC AP50 0.859 on the 200 held-out canvases:
  python launch.py --config experiments/faster_rcnn_canvas.py --workdir runs/frcnn_a \
    --config.train.steps=500 --config.train.eval_every=500 --config.data.num_train=4000 \
    --config.data.num_test=200 --config.data.batch_size=8 --config.schedule.warmup_steps=50
  (then the same with --config.init_from=runs/frcnn_a --config.train.steps=1400
   --config.train.eval_every=1400 --workdir runs/frcnn_b)
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
