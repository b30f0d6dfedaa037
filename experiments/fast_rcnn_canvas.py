r"""Fast R-CNN on 64x64 multi-digit canvases with selective-search proposals (course §3).

Command:
  python launch.py --config experiments/fast_rcnn_canvas.py --workdir runs/fast_rcnn_canvas

Model: one SmallBackbone pass per canvas (32/64/64, stride 8); every selective-search
proposal is RoIAligned 7x7 from that shared map and classified + box-regressed by Faster
R-CNN's TwoMLPHead(256): models.rcnn.FastRCNN.
Proposals: data.selective_search (felzenszwalb k = 50/100/200, colour+texture+size+fill and
texture+size+fill hierarchies, boxes >= 8 px), the 100 best-ranked per canvas, padded + masked;
computed once per canvas set on the host and cached (proposals.json says how long it took).
Data: the YOLO / Faster R-CNN canvases (64x64, 1..4 digits): 2,000 train, the same 1,000
held-out canvases, batch 8. 64 RoIs per image (<= 25% foreground), AdamW 1e-3, warmup +
cosine, 500 steps.
Produces in the workdir: checkpoints/, metrics.jsonl (train/classifier, box_reg; eval/AP, AP50,
AP75, voc_AP50, proposal_recall50 / 70), proposals.json, curves.png, proposals.png,
detections.png, pr_curves.png.
Time and result on the 2-core CPU (load average ~4.5, shared; docs/rcnn_lineage.md): 250 steps
(--config.train.steps=250 --config.train.eval_every=250 --config.train.checkpoint_every=250)
in 2.5 min, of which 1.1 min filled the proposal cache (22 ms per canvas: 22.4 s for the
1,000 held-out, 45.4 s for the 2,000 train canvases); 59.5 img/s in training -> AP 0.213 /
AP50 0.409 / AP75 0.204 / VOC AP50 0.408 on the 1,000 held-out canvases; inference 200.3
canvases/s (network, batch 50), 29.7 with selective search. The default 500 steps are not
measured.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_rcnn_lineage.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']('fast_rcnn')
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
