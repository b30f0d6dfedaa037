"""The `edges` task: the course's edge filters and the Sobel/Scharr edge maps of a real photo.

    python launch.py --config experiments/edges.py --workdir runs/edges

Writes `<workdir>/edges.png` (photo; course vertical and horizontal responses; gradient
magnitude; direction as hue) and `<workdir>/edges.json` (response statistics), and returns
the statistics. The photo is a `data.photos.load_photo` name (offline; e.g. skimage.data's).
"""
import json
import os

import jax.numpy as jnp
import numpy as np

from cnn_jax.data.photos import load_photo
from cnn_jax.ops import filters

NEEDS_WORKDIR = True


def run(config, workdir: str | None) -> dict:
  """Filters `config.image` (downscaled by `config.stride`) and draws `edges.png`."""
  if not workdir:
    raise ValueError('The edges task needs --workdir (where edges.png is written).')
  image = load_photo(config.image)[::config.stride, ::config.stride].astype(np.float32) / 255
  gray = filters.to_gray(jnp.asarray(image))
  vertical = filters.filter2d(gray, filters.VERTICAL, padding='VALID', impl=config.impl)
  horizontal = filters.filter2d(gray, filters.HORIZONTAL, padding='VALID', impl=config.impl)
  magnitude, direction = filters.edge_map(gray, config.operator)
  stats = dict(image=config.image, shape=list(image.shape), operator=config.operator,
               vertical_abs_mean=float(jnp.abs(vertical).mean()),
               horizontal_abs_mean=float(jnp.abs(horizontal).mean()),
               magnitude_mean=float(magnitude.mean()), magnitude_max=float(magnitude.max()),
               edge_fraction=float((magnitude > config.threshold).mean()))
  from cnn_jax.viz import filters as viz  # matplotlib only when drawing
  from cnn_jax.viz.figures import save_png
  fig = viz.edge_figure(
      np.asarray(image),
      {'course vertical [[1,0,-1]]x3': np.asarray(vertical),
       'course horizontal (transpose)': np.asarray(horizontal),
       f'{config.operator} magnitude': np.asarray(magnitude),
       f'edges: magnitude > {config.threshold}': np.asarray(magnitude > config.threshold, np.float32)},
      direction=np.asarray(direction), magnitude=np.asarray(magnitude),
      title=f'{config.image}: 3x3 edge filters (cross-correlation)')
  save_png(fig, os.path.join(workdir, 'edges.png'))
  with open(os.path.join(workdir, 'edges.json'), 'w') as f:
    json.dump(stats, f, indent=1)
  print(json.dumps(stats))
  return stats
