"""The `imagenet_predict` task: classify real photos with real pretrained ImageNet weights.

    python launch.py --config experiments/imagenet_predict.py --workdir runs/imagenet_predict

Loads `config.model`'s weights (`weights.fetch.load(config.model, config.weights)`: the
offline carrier for 'imagenet', or a torchvision .pth path), preprocesses each photo exactly
as torchvision's ImageNet eval transform (`weights.imagenet.preprocess`), runs the model in
eval mode and writes `<workdir>/predictions.png` (each photo beside its top-k bars) and
`<workdir>/predictions.json` ({photo: [[index, name, probability], ...]}, plus the logits'
top-k values). Photos are `data.photos.load_photo` names, all offline: 'chelsea', 'coffee',
... (`skimage.data`), 'china' / 'flower' (scikit-learn), 'darknet/dog.jpg' (Debian), a path.
"""
import json
import os
import time

import jax
import numpy as np

from cnn_jax import models
from cnn_jax.data.photos import load_photo
from cnn_jax.weights import fetch, imagenet

NEEDS_WORKDIR = True


def predict(model_name: str, source: str, photos: list[str], k: int = 5, **model_kwargs):
  """(photos as uint8 arrays, logits [N, 1000] numpy, top-k per photo) for `photos`."""
  variables = fetch.load(model_name, source, **model_kwargs)
  model = models.create(model_name, **model_kwargs)
  images = [load_photo(p) for p in photos]
  x = np.stack([np.asarray(imagenet.preprocess(image)) for image in images])
  logits = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x))
  return images, logits, imagenet.top_k(logits, k)


def run(config, workdir: str | None) -> dict:
  """Classifies `config.photos` with `config.model` / `config.weights`; draws the PNG."""
  if not workdir:
    raise ValueError('The imagenet_predict task needs --workdir (where predictions.png goes).')
  start = time.perf_counter()
  kwargs = {**fetch.TORCHVISION_KWARGS.get(config.model, {}),
            **config.model_kwargs.to_dict()}
  images, logits, top = predict(config.model, config.weights, list(config.photos),
                                config.top_k, **kwargs)
  seconds = time.perf_counter() - start
  result = {photo: [[i, name, round(p, 5)] for i, name, p in row]
            for photo, row in zip(config.photos, top)}
  from cnn_jax.viz import topk as viz  # matplotlib only when drawing
  from cnn_jax.viz.figures import save_png
  titles = [f'{p} -> {row[0][1]}' for p, row in zip(config.photos, top)]
  fig = viz.topk_figure(images, titles, top, suptitle=f'{config.model} ({config.weights}): '
                        f'top-{config.top_k}, torchvision preprocessing')
  save_png(fig, os.path.join(workdir, 'predictions.png'))
  summary = dict(model=config.model, weights=str(config.weights), seconds=round(seconds, 2),
                 top=result, top_logits={p: np.sort(l)[::-1][:config.top_k].round(4).tolist()
                                         for p, l in zip(config.photos, logits)})
  with open(os.path.join(workdir, 'predictions.json'), 'w') as f:
    json.dump(summary, f, indent=1)
  for photo, row in result.items():
    print(f'{photo:10s} ' + ', '.join(f'{name} {p:.1%}' for _, name, p in row))
  return dict(summary, logits=logits)
