r"""Detection primitives vs torchvision / pycocotools (cnn_jax.benchmarks.boxes).

Command:
  python launch.py --config experiments/bench_nms.py [--workdir runs/bench_nms]

Reference timings (torchvision nms / batched_nms / roi_align, pycocotools COCOeval) come from
  python cnn_jax/benchmarks/_boxes_reference.py --out benchmarks/torch_results/boxes.json
run in a throwaway venv (`python -m venv torchref && torchref/bin/pip install torch==2.14.1
torchvision==0.29.1 pycocotools`)
and join the table as impl 'reference' (the suite runs them itself when torch, torchvision
and pycocotools are importable). Prints one line per case, then a table: compile time,
median and p10-p90 per call, and 'vs reference' = reference time / cnn_jax time (> 1: cnn_jax
is faster). With --workdir it also writes benchmark.json.

Measured on the 2-core CPU (shared with three other jobs, load 5-6, so +-50% noise): the
JAX side takes about 30 s, the reference script about 60 s. cnn_jax vs reference, two runs:
nms 1k/5k/20k boxes 1.9-2.9x / 2.5-3.3x / 2.8-3.1x faster than torchvision.ops.nms
(20k: ~0.43 s vs ~1.25 s); batched_nms (20 classes) 1.0-1.3x / 1.9-2.6x / 1.1-2.6x;
roi_align 512 RoIs 7x7 forward 6-10x, forward + gradient 2.7-3.5x; COCO mAP on 5,000
detections 3.3-5.8x faster than pycocotools (~0.12-0.2 s vs ~0.68 s), with identical stats.
Full table: docs/detection.md.
`:smoke` is the tiny variant (200 boxes, 16 RoIs, 4 images) that the tests run.
"""
import os
import runpy

import ml_collections

_FAMILY = runpy.run_path(os.path.join(os.path.dirname(__file__), '_benchmark.py'))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  c = _FAMILY['base']('boxes')
  c.cases = ('nms', 'batched_nms', 'roi_align', 'coco')
  c.iou_threshold = 0.5
  c.update(runs=10, warmup=2, min_sample_s=0.02,
           peak_n=0,  # no matmul peak: these kernels are not FLOP-bound
           baseline='reference', compare='', external=('benchmarks/torch_results/boxes.json',))
  if arg == 'smoke':
    c.update(smoke=True, runs=3, warmup=1, min_sample_s=0.0, external=())
  elif arg:
    raise ValueError(f'Unknown config argument {arg!r}; use nothing or "smoke".')
  return c
