"""The `augment_gallery` task: every augmentation drawn on a real photo, boxes included.

    python launch.py --config experiments/augment_gallery.py --workdir runs/augment_gallery

For each spec in `config.specs` (an `ops.augment` spec string) it draws `config.samples`
random outcomes (keys fold_in(seed, row), split per sample) of the same jitted, vmapped
augmentation as a training step would run, next to the original, with the boxes moved.
The photo is `data.photos.load_photo(config.image)` downscaled by `config.stride`; its box
is the face found by scikit-image's LBP frontal-face cascade (a real detection, not
hand-placed) plus `config.extra_boxes`. Writes `<workdir>/augment_gallery.png` and `augment_gallery.json`
(per row: the spec, value range and boxes of every draw).
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.data.photos import load_photo
from cnn_jax.ops import augment

NEEDS_WORKDIR = True


def photo_and_face(name: str, stride: int) -> tuple[np.ndarray, np.ndarray]:
  """(`[H, W, 3]` float32 in [0, 1], face boxes `[N, 4]` xyxy) for photo `name`
  (`data.photos.load_photo`), downscaled by `stride`; faces from skimage's LBP cascade on the
  full-size photo."""
  from skimage import data, feature
  image = load_photo(name)
  detector = feature.Cascade(data.lbp_frontal_face_cascade_filename())
  faces = detector.detect_multi_scale(img=image, scale_factor=1.2, step_ratio=1,
                                      min_size=(60, 60), max_size=(160, 160))
  boxes = np.array([[f['c'], f['r'], f['c'] + f['width'], f['r'] + f['height']] for f in faces],
                   np.float32).reshape(-1, 4)
  return (image[::stride, ::stride].astype(np.float32) / 255.0), boxes / stride


def run(config, workdir: str | None) -> dict:
  """Draws each of `config.specs` `config.samples` times; writes the PNG and JSON."""
  if not workdir:
    raise ValueError('The augment_gallery task needs --workdir (where the PNG is written).')
  image, boxes = photo_and_face(config.image, config.stride)
  if config.extra_boxes:
    boxes = np.concatenate([boxes, np.asarray(config.extra_boxes, np.float32) / config.stride])
  images = jnp.broadcast_to(image, (config.samples, *image.shape))
  many_boxes = jnp.broadcast_to(boxes, (config.samples, *boxes.shape))
  rows, summary = [], []
  for r, spec in enumerate(config.specs):
    fn = jax.jit(augment.make_batch_augment(spec))
    out, out_boxes = fn(jax.random.fold_in(jax.random.key(config.seed), r), images, many_boxes)
    out, out_boxes = np.asarray(out), np.asarray(out_boxes)
    rows.append((spec, list(out), list(out_boxes)))
    summary.append(dict(spec=spec, min=float(out.min()), max=float(out.max()),
                        boxes=np.round(out_boxes, 1).tolist()))
  from cnn_jax.viz import augment as viz  # matplotlib only when drawing
  from cnn_jax.viz.figures import save_png
  fig = viz.gallery_figure(rows, image, boxes, title=(
      f'ops.augment on {config.image} (box: LBP face detection); '
      'the same jitted, vmapped code a train step runs'))
  save_png(fig, os.path.join(workdir, 'augment_gallery.png'), dpi=90)
  result = dict(image=config.image, shape=list(image.shape), boxes=boxes.tolist(), rows=summary)
  with open(os.path.join(workdir, 'augment_gallery.json'), 'w') as f:
    json.dump(result, f, indent=1)
  print(f'{len(rows)} augmentations x {config.samples} draws -> '
        f'{os.path.join(workdir, "augment_gallery.png")}')
  return result
