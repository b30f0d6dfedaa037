r"""The R-CNN lineage table: R-CNN vs Fast R-CNN vs Faster R-CNN on the same held-out canvases.

Command (after the three trainings; the workdirs are the defaults below):
  python launch.py --config experiments/bench_rcnn_lineage.py --workdir runs/bench_rcnn_lineage
(faster_rcnn = runs/rcnn_lineage/faster_rcnn_500: experiments/faster_rcnn_canvas.py with the
lineage's data, batch, 500 steps and Fast R-CNN's backbone, see docs/rcnn_lineage.md; add
--config.compare.workdirs.faster_rcnn_tuned=runs/faster_rcnn_canvas for the tuned run.)

Loads each trained workdir, evaluates it on the 1,000 held-out canvases (COCO AP / AP50 / AP75,
VOC AP50), times its jitted inference on a batch of 50 canvases (median of 5, after compile),
times selective search live on 50 canvases (one host core), and measures the proposals'
recall at IoU 0.5 / 0.7: selective search's 100 vs the RPN's 100 post-NMS proposals.
Writes lineage.json and lineage_proposals.png (top-50 proposals per method on 6 canvases).
Measured (load average 4.0, shared 2-core CPU; 81 s; the table in docs/rcnn_lineage.md):
R-CNN 39.0 / Fast R-CNN 200.3 / Faster R-CNN 187-189 canvases/s (network); selective search
28.7 ms per canvas, recall 0.955 / 0.847 at IoU 0.5 / 0.7 (40 proposals) vs the trained
RPN's 0.980 / 0.831 (100 proposals).
`:smoke` is not provided: it needs trained workdirs (the tests build tiny ones).
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_rcnn_lineage.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg is not None:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing.')
  c = _FAMILY['base']('rcnn')
  c.mode = 'compare'
  c.compare.workdirs.update(rcnn='runs/rcnn_canvas', fast_rcnn='runs/fast_rcnn_canvas',
                            faster_rcnn='runs/rcnn_lineage/faster_rcnn_500')
  return c
