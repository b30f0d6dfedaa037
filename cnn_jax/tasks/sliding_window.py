"""Sliding-window digit detection (course §3.1): train a 28x28 window classifier, then slide it
over a canvas naively (crop and classify) and convolutionally (FC layers as convolutions).

Training is the classification task on windows cut from canvases (`data.windows`: 10 digits
+ background) with `models.sliding_window.WindowClassifier`. At the end (process 0) it also
writes, for `config.demo.canvases` test canvases of size `config.demo.size`:
  sliding_window.json: per canvas the window grid, max |naive - convolutional| logit gap,
    seconds per pass (median of `config.demo.repeats`, after compile) and windows/s of each;
    digits found (a detection of the digit's class whose 28x28 window holds >= 90% of the
    digit's ink box; IoU is no measure here: windows are fixed 28x28, ink boxes ~20x20).
  heatmap.png: P(digit) = 1 - P(background) per window over the first canvas, and the
    detections: windows with P(digit) > config.demo.threshold, NMS at IoU config.demo.nms_iou.
Config keys: experiments/_sliding_window.py.
"""
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.data import canvases, windows
from cnn_jax.models import sliding_window as sw
from cnn_jax.ops import nms as nms_ops
from cnn_jax.tasks import _supervised
from cnn_jax.tasks.classification import Classification
from cnn_jax.viz.detection import plot_window_heatmap


def _median_seconds(fn, *args, repeats: int) -> float:
  jax.block_until_ready(fn(*args))  # compile + warm up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def detect(probs: np.ndarray, boxes: np.ndarray, threshold: float, iou: float):
  """Windows with P(digit) > threshold, greedy NMS: (boxes [D, 4], labels [D], scores [D])."""
  digit = 1 - probs[..., windows.BACKGROUND].reshape(-1)
  flat_boxes = boxes.reshape(-1, 4)
  keep = nms_ops.nms(jnp.asarray(flat_boxes), jnp.asarray(digit), iou,
                     score_threshold=threshold)
  idx = np.asarray(keep.indices)[:int(keep.count)]
  labels = probs[..., :windows.BACKGROUND].reshape(-1, windows.BACKGROUND).argmax(-1)
  return flat_boxes[idx], labels[idx], digit[idx]


class SlidingWindow(Classification):
  """Classification of 28x28 windows; the demo compares the two ways of sliding it."""

  def load_data(self):
    w = self.config.windows
    return windows.load((w.train_canvases, w.test_canvases), self.config.seed,
                        negatives=w.negatives)

  def build_model(self, dataset):
    m = self.config.model
    return sw.WindowClassifier(num_classes=dataset.num_classes, features=tuple(m.features),
                               hidden=m.hidden, padding=m.padding)

  def prepare(self, examples):
    return {'image': examples['image'].astype(np.float32) / 255.0,
            'label': examples['label'].astype(np.int32)}

  def pictures(self, run, state, evaluation):
    out = super().pictures(run, state, evaluation)
    demo, model = self.config.demo, run.model
    params = jax.device_get(state.params)
    conv_params = sw.fc_to_conv(params, model)
    cfg = canvases.CanvasConfig(size=tuple(demo.size), objects=tuple(demo.objects),
                                scale=(0.9, 1.1), fragments=6, noise=0.03, texture=0.3)
    batch = canvases.generate(cfg, 'test', demo.canvases, self.config.seed + 1)
    naive = jax.jit(lambda p, x: sw.naive_scores(model, p, x, batch=demo.naive_batch))
    conv = jax.jit(lambda p, x: sw.conv_scores(model, p, x))
    boxes = sw.window_boxes(*cfg.size, model.window, model.stride)
    report, found, total = [], 0, 0
    for b in range(demo.canvases):
      image = jnp.asarray(batch['image'][b], jnp.float32) / 255.0
      a, c = np.asarray(naive(params, image)), np.asarray(conv(conv_params, image))
      t_naive = _median_seconds(naive, params, image, repeats=demo.repeats)
      t_conv = _median_seconds(conv, conv_params, image, repeats=demo.repeats)
      probs = np.asarray(jax.nn.softmax(c, -1))
      det_boxes, det_labels, _ = detect(probs, boxes, demo.threshold, demo.nms_iou)
      true = batch['boxes'][b][batch['valid'][b]]
      true_labels = batch['labels'][b][batch['valid'][b]]
      if len(det_boxes) and len(true):  # ink box >= 90% inside a window of its class
        cover = np.stack([windows.cover(d, true) for d in det_boxes], 1)  # [true, det]
        hit = (cover >= 0.9) & (true_labels[:, None] == det_labels[None])
        found += int(hit.any(1).sum())
      total += len(true)
      n = int(np.prod(boxes.shape[:2]))
      report.append({'grid': list(boxes.shape[:2]), 'windows': n,
                     'max_abs_gap': float(np.abs(a - c).max()),
                     'naive_s': t_naive, 'conv_s': t_conv,
                     'naive_windows_per_s': n / t_naive, 'conv_windows_per_s': n / t_conv,
                     'speedup': t_naive / t_conv, 'detections': len(det_boxes),
                     'digits': len(true)})
      if b == 0:
        out['heatmap'] = plot_window_heatmap(
            np.asarray(image), 1 - probs[..., windows.BACKGROUND], model.window, model.stride,
            det_boxes, det_labels, true, run.path('heatmap.png'),
            f'{n} windows: naive {t_naive * 1e3:.1f} ms, convolutional {t_conv * 1e3:.1f} ms, '
            f'max |gap| {report[-1]["max_abs_gap"]:.1e}')
    summary = {'canvases': report, 'digits_found': found, 'digits': total,
               'median_speedup': float(np.median([r['speedup'] for r in report]))}
    with open(run.path('sliding_window.json'), 'w') as f:
      json.dump(summary, f, indent=1)
    print(json.dumps({k: v for k, v in summary.items() if k != 'canvases'}))
    return out


def run(config, workdir: str):
  """Trains the window classifier on `config`'s windows, then the naive vs convolutional demo."""
  return _supervised.run(SlidingWindow(config), workdir)
