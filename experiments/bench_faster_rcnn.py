r"""Faster R-CNN: proposal stage vs torchvision's, inference and train step (cnn_jax.benchmarks.faster_rcnn).

Command:
  python launch.py --config experiments/bench_faster_rcnn.py [--workdir runs/bench_faster_rcnn]

The detector is the faster_rcnn_canvas experiment's model (its `model` block) on 64x64 gray
canvases: inference on 50 canvases per call (its eval batch), a train step on 16 (its batch),
and the YOLO experiment's detector's inference on the same 50 canvases (side-by-side row).
Reference timings (torchvision's decode + RegionProposalNetwork.filter_proposals, 2 threads)
come from
  python cnn_jax/benchmarks/_faster_rcnn_reference.py --out benchmarks/torch_results/faster_rcnn.json
run in a throwaway venv with torch==2.14.1 torchvision==0.29.1, and join the table as impl
'reference'. Prints compile time, median per call and items/s (images) per case.
Measured (heavy --exclusive, 2-core AMD EPYC, two runs at load 1.7-3.3; docs/detection.md
has the table): proposals on 50 canvases 14.1 / 10.3 ms vs torchvision 41.0 / 59.6 ms (2.9x /
5.8x), on 2 x 37,500 anchors 7.9 / 7.8 vs 7.7 / 10.6 ms (0.97x / 1.4x); inference 188
canvases/s, train step 221 ms per 16 (72 img/s); the YOLO detector 1,917 canvases/s. Cold
compiles: train step 7.8 s, inference 2.6 s, proposals 0.6-0.7 s.
`:smoke` is the tiny variant the tests run.
"""
import os
import runpy

import ml_collections

_DIR = os.path.dirname(__file__)
_FAMILY = runpy.run_path(os.path.join(_DIR, '_benchmark.py'))
_CANVAS = runpy.run_path(os.path.join(_DIR, 'faster_rcnn_canvas.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if arg not in (None, 'smoke'):
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  c = _FAMILY['base']('faster_rcnn')
  canvas = _CANVAS['get_config']('smoke' if arg == 'smoke' else None)
  c.model = canvas.model
  c.update(image=canvas.data.canvas.size[0], channels=canvas.data.channels,
           infer_batch=canvas.data.eval_batch_size, train_batch=canvas.data.batch_size)
  # The YOLO experiment's detector on the same canvases (side-by-side row): its model block,
  # the k-means anchors its run measured (experiments/yolo_canvas.py docstring) and its mAP
  # thresholds.
  y = runpy.run_path(os.path.join(_DIR, '_yolo.py'))['base']()
  c.yolo = ml_collections.ConfigDict(dict(
      widths=y.model.widths, head_width=y.model.head_width,
      anchors=((4.8, 16.9), (9.4, 15.3), (14.1, 14.7), (14.2, 20.5), (20.2, 21.7)),
      score_threshold=y.predict.eval_score_threshold, iou_threshold=y.predict.iou_threshold,
      max_detections=y.predict.max_detections))
  c.update(runs=10, warmup=2, min_sample_s=0.02, peak_n=0, baseline='reference',
           external=('benchmarks/torch_results/faster_rcnn.json',))
  if arg == 'smoke':
    c.update(smoke=True, infer_batch=2, train_batch=2, runs=2, warmup=1, min_sample_s=0.0,
             external=())
    c.yolo.update(widths=(4, 8, 8), head_width=8)
  return c
