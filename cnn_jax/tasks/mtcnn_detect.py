"""The `mtcnn_detect` task: find faces and their 5 landmarks with the real MTCNN weights.

    python launch.py --config experiments/mtcnn_detect.py --workdir runs/mtcnn_detect

Loads the P/R/O-Net weights (`weights.mtcnn.load_mtcnn`: the mtcnn==0.1.1 wheel's file,
fetched once, SHA-256 checked, read without pickle execution), converts them
(`models.mtcnn.from_keras`) and runs the jitted static-shape cascade
(`models.mtcnn_cascade`) on each of `config.images` (`data.photos.load_photo` names or the
user's own files). Writes `<workdir>/faces.png` (boxes, scores, landmarks) and
`<workdir>/faces.json`: per image its size, faces found, boxes, scores, landmarks, the
candidates left after each stage, and the first call's seconds (compile + run). With
`config.speed.repeats > 0` it also times the detector on `config.speed.image` resized to
`config.speed.size` (H, W): compile seconds separately, then images/s over the repeats, with
the machine's load average (shared CPUs make timings noisy).
"""
import json
import os
import time

import jax
import numpy as np

from cnn_jax.data.photos import load_photo
from cnn_jax.models import mtcnn, mtcnn_cascade
from cnn_jax.viz.detection import plot_faces
from cnn_jax.weights import mtcnn as mtcnn_weights

NEEDS_WORKDIR = True


def settings_from(config) -> mtcnn_cascade.Settings:
  """The cascade Settings from config.cascade (min_face, factor, thresholds, limits)."""
  c = config.cascade
  return mtcnn_cascade.Settings(
      min_face=c.min_face, factor=c.factor, thresholds=tuple(c.thresholds),
      max_windows=c.max_windows, max_proposals=c.max_proposals, max_refined=c.max_refined,
      max_faces=c.max_faces, chunk=c.chunk)


def _speed(detect, image: np.ndarray, size: tuple[int, int], repeats: int) -> dict:
  from PIL import Image
  resized = np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))
  start = time.perf_counter()
  jax.block_until_ready(detect(resized))
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(detect(resized))
    times.append(time.perf_counter() - start)
  median = float(np.median(times))
  return {'size': list(size), 'first_call_s': compile_s, 'median_s': median,
          'images_per_s': 1.0 / median, 'repeats': repeats,
          'load_average_1m': os.getloadavg()[0], 'cpus': os.cpu_count()}


def run(config, workdir: str | None) -> dict:
  """Detects faces on config.images; writes faces.png and faces.json into `workdir`."""
  if not workdir:
    raise ValueError('The mtcnn_detect task needs --workdir (where faces.png goes).')
  variables = mtcnn.from_keras(mtcnn_weights.load_mtcnn(config.weights or None))
  detect = mtcnn_cascade.make_detector(variables, settings_from(config))
  images, found = [], {}
  for name in config.images:
    image = load_photo(name)
    mtcnn_cascade.check_image(image)
    start = time.perf_counter()
    faces = jax.device_get(detect(image))
    seconds = time.perf_counter() - start
    keep = np.asarray(faces.valid)
    images.append(image)
    found[name] = {'size': list(image.shape[:2]), 'faces': int(keep.sum()),
                   'boxes': np.round(faces.boxes[keep], 2).tolist(),
                   'scores': np.round(faces.scores[keep], 5).tolist(),
                   'landmarks': np.round(faces.landmarks[keep], 2).tolist(),
                   'stage_counts': np.asarray(faces.counts).tolist(), 'first_call_s': seconds}
  os.makedirs(workdir, exist_ok=True)
  plot_faces(images, [found[n]['boxes'] for n in found], [found[n]['scores'] for n in found],
             [np.asarray(found[n]['landmarks']).reshape(-1, 5, 2) for n in found],
             [os.path.basename(n) if os.path.isfile(n) else n for n in found],
             os.path.join(workdir, 'faces.png'))
  result = {'images': found}
  if config.speed.repeats > 0:
    result['speed'] = _speed(detect, load_photo(config.speed.image), tuple(config.speed.size),
                             config.speed.repeats)
  with open(os.path.join(workdir, 'faces.json'), 'w') as f:
    json.dump(result, f, indent=1)
  summary = {n: v['faces'] for n, v in found.items()}
  print(json.dumps({'faces': summary, 'speed': result.get('speed')}))
  return result
