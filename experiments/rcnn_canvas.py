r"""R-CNN on 64x64 multi-digit canvases with selective-search proposals (course §3).

Command:
  python launch.py --config experiments/rcnn_canvas.py --workdir runs/rcnn_canvas

Model: every selective-search proposal is cropped from the image (dilated by 2 px of context
at the warped size), warped to 32x32 and classified + box-regressed by its own small convnet
(3 x conv3x3-ReLU-maxpool 32/64/64, fc 256): models.rcnn.RCNN.
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
in 8.6 min (4.8 img/s in training) -> AP 0.486 / AP50 0.747 / AP75 0.567 / VOC AP50 0.750 on the
1,000 held-out canvases; inference 39.0 canvases/s (network, batch 50), 18.4 with selective
search; proposals: 40.0 per canvas, recall 0.955 / 0.847 at IoU 0.5 / 0.7. The default 500
steps are not measured.
`:smoke` is a few-step variant that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_rcnn_lineage.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']('rcnn')
  return _FAMILY['smoke'](c) if arg == 'smoke' else c
