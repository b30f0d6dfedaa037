"""The `yolo_predict` task: a trained YOLO workdir + images -> labelled boxes (PNG) and COCO JSON.

    python launch.py --config experiments/yolo_predict.py --workdir runs/yolo_predict \
        --config.run=runs/yolo_canvas --config.images="('my_digits.png',)"

Reads the run's config.json (it must be a 'yolo' run), anchors.json (anchors, stride, image
size, class names) and its newest checkpoint. Images: `config.images` (files or
`data.photos` names; each is converted to the run's channels, resized to the run's canvas
size, and the boxes are scaled back to the original pixels), or, when empty, the first
`config.num_canvases` held-out canvases of the run's own canvas config. Writes
`predictions.png` (all images with their boxes) and `detections.json` in the COCO results
format ([{image_id, file_name, category_id, bbox [x, y, w, h], score}]).
"""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnn_jax.data import canvases
from cnn_jax.models.yolo import YOLO
from cnn_jax.ops import yolo
from cnn_jax.train import pretrained as pretrained_lib

NEEDS_WORKDIR = True


def read_run(run_dir: str) -> tuple[ml_collections.ConfigDict, dict]:
  """(the run's config, its anchors.json), refusing a workdir that is not a finished yolo run."""
  path = os.path.join(run_dir, 'config.json')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{run_dir} holds no config.json: config.run must be the workdir of '
                            'a yolo training run (python launch.py --config experiments/yolo_canvas.py ...).')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if config.task != 'yolo':
    raise ValueError(f'{run_dir} holds a {config.task!r} run, not a yolo run; point config.run at '
                     'the workdir of experiments/yolo_canvas.py (or another yolo config).')
  anchors_path = os.path.join(run_dir, 'anchors.json')
  if not os.path.isfile(anchors_path):
    raise FileNotFoundError(f'{anchors_path} is missing: the yolo run did not reach its first '
                            'evaluation; train it (at least to its first checkpoint) first.')
  with open(anchors_path) as f:
    return config, json.load(f)


def _fit_image(image: np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
  from skimage.transform import resize
  x = np.asarray(image, np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
  if x.ndim == 2:
    x = x[..., None]
  x = x.mean(-1, keepdims=True) if channels == 1 and x.shape[-1] != 1 else x
  x = np.repeat(x, 3, -1) if channels == 3 and x.shape[-1] == 1 else x
  return resize(x, size, order=1, anti_aliasing=True).astype(np.float32)


def run(config, workdir: str) -> dict:
  """Detects objects in `config.images` (or canvases) with the run `config.run` (module doc)."""
  cfg, info = read_run(config.run)
  size = tuple(info['image_size'])
  m = cfg.model
  model = YOLO(num_classes=info['num_classes'], num_anchors=len(info['anchors']),
               backbone=m.backbone, feature=m.feature, widths=tuple(m.widths),
               head_width=m.head_width, conv_impl=m.conv_impl)
  variables = pretrained_lib.workdir_variables(config.run)
  if config.images:
    from cnn_jax.data.photos import load_photo
    originals = [load_photo(name) for name in config.images]
    images = np.stack([_fit_image(im, size, cfg.data.channels) for im in originals])
    names = list(config.images)
  else:
    test = canvases.generate(canvases.config_from(cfg.data.canvas.to_dict()), 'test', config.num_canvases,
                             seed=cfg.data.canvas_seed)
    images = canvases.detection_batch(test, cfg.data.channels)['image']
    originals = list(images)
    names = [f'canvas_{i}' for i in range(len(images))]
  if cfg.data.normalize:
    from cnn_jax.tasks._supervised import make_normalize
    normalize = make_normalize(cfg.data.normalize)
  else:
    normalize = lambda x: x
  score = cfg.predict.score_threshold if config.score_threshold < 0 else config.score_threshold
  anchors = jnp.asarray(info['anchors'], jnp.float32)

  @jax.jit
  def detect(variables, x):
    raw = model.apply(variables, normalize(x), train=False)
    return jax.vmap(lambda r: yolo.postprocess(
        r, anchors, info['stride'], size, score, cfg.predict.iou_threshold,
        cfg.predict.max_detections, cfg.predict.pre_nms_top_k or None))(raw)

  det = jax.device_get(detect(variables, jnp.asarray(images)))
  results = []
  for i, (name, original) in enumerate(zip(names, originals)):
    sy, sx = original.shape[0] / size[0], original.shape[1] / size[1]
    for box, s, label, ok in zip(det.boxes[i], det.scores[i], det.labels[i], det.valid[i]):
      if ok:
        x1, y1, x2, y2 = (float(v) for v in box * np.array([sx, sy, sx, sy]))
        results.append({'image_id': i, 'file_name': name, 'category_id': int(label),
                        'category_name': info['class_names'][int(label)],
                        'bbox': [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                        'score': round(float(s), 5)})
  with open(os.path.join(workdir, 'detections.json'), 'w') as f:
    json.dump(results, f, indent=1)
  from cnn_jax.viz.boxes import plot_detections
  plot_detections(images, det._asdict(), None, info['class_names'],
                  os.path.join(workdir, 'predictions.png'))
  for name in names:
    found = [r for r in results if r['file_name'] == name]
    print(f'{name}: ' + (', '.join(f"{r['category_name']} {r['score']:.2f}" for r in found)
                         or 'nothing above the score threshold'))
  return {'detections': results, 'count': len(results)}
