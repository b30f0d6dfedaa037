"""The `what_convnets_learn` task: the course's "What are deep ConvNets learning?" on real weights.

    python launch.py --config experiments/what_convnets_learn.py --workdir runs/wcl

On the zoo's VGG-19 with real ImageNet weights (`weights.vgg19_nst`) and real photos
(scikit-image, scikit-learn and Debian darknet photos, centre crops of `config.size`):
  - Zeiler-Fergus: for `config.channels_per_layer` units of each layer in `config.layers`,
    the top-k dataset patches that excite the unit most (streaming top-k over the photos),
    each cropped to the unit's exact receptive field from the layer arithmetic
    (`models.receptive_field`): `patches_vgg19_<layer>.png`.
  - First-layer filters as images (`filters_conv1_1.png`) and, for a few units, the input
    that maximises their mean activation by gradient ascent with jitter (`ascent.png`).
On the zoo's MobileNetV2 with torchvision's ImageNet weights (`weights.load`):
  - the same top-k patch sheets for the block outputs in `config.mobilenet_layers`
    (captured by Flax's `capture_intermediates`; fields from `mobilenet_v2_layers`):
    `patches_mobilenet_v2_features<i>.png`;
  - Grad-CAM at `config.cam_layer`, vanilla saliency, guided backprop, SmoothGrad, integrated gradients (with
    its completeness gap) and an occlusion map for the top-1 class of each photo
    (`attribution.png`), and the model-randomisation sanity check (Adebayo et al. 2018): the
    Spearman correlation between the trained and a randomly initialised network's saliency.
Writes `what_convnets_learn.json` (top classes, IG completeness, sanity correlations).
"""
import json
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn_jax import models
from cnn_jax.models import attribution, receptive_field as rf
from cnn_jax.models.features import features
from cnn_jax.weights import imagenet, vgg19_nst

NEEDS_WORKDIR = True


def load_photos(names, size: int) -> tuple[np.ndarray, list[str]]:
  """`[N, size, size, 3]` float32 [0, 1] centre crops (shorter side resized to `size`)."""
  from cnn_jax.data.photos import load_photo
  out = []
  for name in names:
    if name.startswith('darknet/'):
      from cnn_jax.data import debian
      image = debian.read_image(name)
    else:
      image = load_photo(name)
    crop = imagenet.center_crop(imagenet.resize_uint8(
        image, imagenet.resized_size(*image.shape[:2], shorter=size)), size)
    out.append(np.asarray(crop, np.float32) / 255)
  return np.stack(out), list(names)


def vgg_stages(model, to_input) -> Callable:
  """`f(variables, photos [N, H, W, 3] in [0, 1]) -> {'conv1_1': [N, h, w, C], ...}`."""
  return jax.jit(lambda v, x: model.apply(v, to_input(x), return_stages=True)[1])


def module_outputs(model, layers, to_input, **apply_kwargs) -> Callable:
  """`f(variables, photos) -> {module path: output}` for the modules named in `layers`
  ('features/3'), by `models.features` (capture_intermediates; no model change)."""
  return jax.jit(lambda v, x: features(model, v, to_input(x), layers, **apply_kwargs))


def top_patches(stages_fn, variables, photos, layers, field_fn, per_layer: int, k: int,
                batch: int = 4) -> dict:
  """{layer: (channels [U], values [U, k], patches [U, k, s, s, 3], RF)} for the
  `per_layer` channels of each layer with the largest dataset maximum; k different photos
  per unit (the best position in each). `stages_fn(variables, x) -> {layer: [N, h, w, C]}`;
  `field_fn(layer)` -> the (k, s, p) chain up to that layer (`receptive_field`)."""
  tops = {}
  for start in range(0, len(photos), batch):
    x = jnp.asarray(photos[start:start + batch])
    stages = stages_fn(variables, x)
    ids = jnp.arange(start, start + x.shape[0])
    for layer in layers:
      if layer not in tops:
        tops[layer] = rf.TopK.init(k, stages[layer].shape[-1], one_per_image=True)
      tops[layer] = tops[layer].update(stages[layer], ids)
  out = {}
  for layer in layers:
    top = jax.device_get(tops[layer])
    channels = np.argsort(-top.values[:, 0])[:per_layer]
    field = rf.chain_receptive_field(field_fn(layer))
    patches = np.stack([[rf.crop_patch(photos[n], field.box(i, j)) for n, i, j in top.where[c]]
                        for c in channels])
    out[layer] = (channels, top.values[channels], patches, field)
  return out


def gradient_ascent(model, variables, to_input, layer: str, channels, size: int, steps: int,
                    key, lr: float = 0.05, jitter: int = 4) -> np.ndarray:
  """Inputs `[U, size, size, 3]` in [0, 1] maximising the mean of each unit's channel at
  `layer` (sigmoid parametrisation, random jitter each step; all units as one batch)."""
  channels = jnp.asarray(channels)
  z = 0.1 * jax.random.normal(key, (len(channels), size, size, 3))
  tx = optax.adam(lr)

  def objective(z, shift):
    x = jnp.roll(jax.nn.sigmoid(z), shift, axis=(1, 2))
    acts = model.apply(variables, to_input(x), return_stages=True)[1][layer]
    return -jnp.sum(jnp.take_along_axis(acts.mean((1, 2)), channels[:, None], 1))

  @jax.jit
  def step(z, opt, key):
    shift = tuple(jax.random.randint(key, (2,), -jitter, jitter + 1))
    g = jax.grad(objective)(z, shift)
    u, opt = tx.update(g, opt, z)
    return optax.apply_updates(z, u), opt

  opt = tx.init(z)
  for i in range(steps):
    z, opt = step(z, opt, jax.random.fold_in(key, i))
  return np.asarray(jax.nn.sigmoid(z))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  """Spearman rank correlation of two equally shaped arrays."""
  ra, rb = np.argsort(np.argsort(a.ravel())), np.argsort(np.argsort(b.ravel()))
  return float(np.corrcoef(ra, rb)[0, 1])


def attributions(config, photos_uint8_like: np.ndarray, key) -> dict:
  """MobileNetV2 (ImageNet) Grad-CAM, saliency, SmoothGrad, IG, occlusion per photo."""
  from cnn_jax import weights
  model = models.create('mobilenet_v2', conv_impl=config.conv_impl)
  variables = weights.load('mobilenet_v2', 'imagenet')
  x = imagenet.normalize(jnp.asarray(photos_uint8_like * 255))
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  top1 = jnp.argmax(logits, -1)
  score = lambda out: jnp.take_along_axis(out, top1[:, None], 1)[:, 0]
  cam = jax.jit(lambda v, x: attribution.grad_cam(model, v, x, config.cam_layer, score))(
      variables, x)
  sal = attribution.saliency(model, variables, x, score)
  guided = jax.jit(lambda v, x: attribution.guided_backprop(model, v, x, score))(variables, x)
  # chunk: 8 copies of the photos per pass; one batch of all 32 IG points x 3 photos at
  # 224 px (with its backward) took the 23 GB machine out of memory.
  smooth = jnp.abs(attribution.smooth_grad(model, variables, x, score, key,
                                           samples=config.smooth_samples, chunk=8)).max(-1)
  baseline = imagenet.normalize(jnp.zeros_like(x))  # a black image
  ig = attribution.integrated_gradients(model, variables, x, score, baseline, config.ig_steps,
                                        chunk=8)
  f_x = score(model.apply(variables, x, train=False))
  f_0 = score(model.apply(variables, baseline, train=False))
  gap = np.asarray((ig.sum((1, 2, 3)) - (f_x - f_0)) / jnp.abs(f_x - f_0))
  occ = np.stack([np.asarray(attribution.occlusion(
      model, variables, xi, lambda out, c=c: out[:, c], config.occlusion_patch,
      config.occlusion_stride, fill=0.0)) for xi, c in zip(x, np.asarray(top1))])
  random_vars = model.init(jax.random.key(1), x[:1], train=False)
  sal_random = attribution.saliency(model, random_vars, x, score)
  names = imagenet.class_names()
  return dict(top1=[names[int(c)] for c in top1], cam=np.asarray(cam), saliency=np.asarray(sal),
              guided=np.asarray(guided),
              smooth=np.asarray(smooth), ig=np.asarray(jnp.abs(ig).max(-1)), ig_gap=gap,
              occlusion=occ, sanity=[spearman(a, b) for a, b in zip(np.asarray(sal),
                                                                   np.asarray(sal_random))])


def _patch_sheets(title, tag, patches, config, n_photos, workdir, result) -> None:
  from cnn_jax.viz import attribution as viz
  for layer, (channels, values, crops, field) in patches.items():
    name = layer.replace('/', '')
    viz.patch_grid(crops, channels, values, os.path.join(workdir, f'patches_{tag}_{name}.png'),
                   title=f'{title} {layer}: top-{config.top_k} patches over {n_photos} photos '
                         f'(receptive field {field.size} px, stride {field.jump})')
    result[f'rf_{tag}_{name}'] = field._asdict()


def run(config, workdir: str | None) -> dict:
  """Patches, filters, ascent (VGG-19) and attributions (MobileNetV2); pictures + JSON."""
  if not workdir:
    raise ValueError('The what_convnets_learn task needs --workdir (where pictures go).')
  os.makedirs(workdir, exist_ok=True)
  from cnn_jax.viz import attribution as viz
  key = jax.random.key(config.seed)
  vgg = models.create('vgg19', num_classes=None, hidden=None, conv_impl=config.conv_impl)
  known = [n for n in vgg.feature_names().values() if n.startswith('conv')]
  bad = sorted(set(config.layers) - set(known))
  if bad:
    raise ValueError(f'VGG-19 has no layers {bad}; its layers are {known}.')
  for layer in config.mobilenet_layers:  # a bad name fails here, listing the layers
    rf.mobilenet_v2_layers(layer)
  w = vgg19_nst.load_vgg19(config.weights)
  to_input = lambda x: vgg19_nst.to_vgg_input(x, w)
  clock = [time.perf_counter()]
  seconds = {}

  def lap(name):  # wall seconds per phase, into the JSON
    seconds[name] = round(time.perf_counter() - clock[0], 1)
    clock[0] = time.perf_counter()
  photos, names = load_photos(config.photos, config.size)
  result = {'photos': names, 'seconds': seconds}
  lap('load')
  patches = top_patches(vgg_stages(vgg, to_input), w.variables, photos, config.layers,
                        lambda layer: rf.vgg_layers(19, layer), config.channels_per_layer,
                        config.top_k)
  _patch_sheets('VGG-19', 'vgg19', patches, config, len(names), workdir, result)
  lap('vgg19_patches')
  if config.mobilenet_layers:
    from cnn_jax import weights
    mnet = models.create('mobilenet_v2', conv_impl=config.conv_impl)
    m_vars = weights.load('mobilenet_v2', 'imagenet')
    m_input = lambda x: imagenet.normalize(x * 255)
    m_patches = top_patches(module_outputs(mnet, config.mobilenet_layers, m_input),
                            m_vars, photos, config.mobilenet_layers, rf.mobilenet_v2_layers,
                            config.channels_per_layer, config.top_k)
    _patch_sheets('MobileNetV2', 'mobilenet_v2', m_patches, config, len(names), workdir, result)
    lap('mobilenet_v2_patches')
  kernel = np.asarray(w.variables['params']['features']['0']['kernel'])
  viz.filter_grid(kernel, os.path.join(workdir, 'filters_conv1_1.png'))
  ascent = {layer: gradient_ascent(vgg, w.variables, to_input, layer, patches[layer][0][:4],
                                   config.ascent_size, config.ascent_steps, key)
            for layer in config.ascent_layers}
  viz.ascent_grid(ascent, os.path.join(workdir, 'ascent.png'))
  lap('filters_and_ascent')
  att_photos, att_names = load_photos(config.attribution_photos, 224)
  att = attributions(config, att_photos, key)
  viz.attribution_sheet(att_photos, att_names, att, os.path.join(workdir, 'attribution.png'),
                        config.cam_layer)
  lap('attributions')
  result.update(top1=dict(zip(att_names, att['top1'])),
                ig_completeness_gap=dict(zip(att_names, map(float, att['ig_gap']))),
                sanity_spearman=dict(zip(att_names, att['sanity'])))
  with open(os.path.join(workdir, 'what_convnets_learn.json'), 'w') as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result))
  return result
