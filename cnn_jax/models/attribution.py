"""What a convnet looks at: Grad-CAM, saliency, guided backprop, SmoothGrad, integrated
gradients, occlusion.

Pure functions of (model, variables, images); no hooks, nothing registered or left behind.
The gradient at an intermediate layer comes from a Flax method interceptor that adds a zero
`delta` to the named module's output inside one `apply`: d(score)/d(delta) is exactly
d(score)/d(activation), and the activation itself is returned alongside (one forward, one
backward). So any module path works ('features/18', 'layer4/1', 'CONV2'), jit/vmap safe.

    score_fn = lambda logits: logits[:, class_index]         # [N, K] -> [N]
    cam = grad_cam(model, variables, x, 'features/18', score_fn)            # [N, h, w]
    sal = saliency(model, variables, x, score_fn)                           # [N, H, W]
    ig  = integrated_gradients(model, variables, x, score_fn, steps=64)     # [N, H, W, C]

Formulas (Selvaraju et al. 2017; Simonyan et al. 2014; Smilkov et al. 2017; Sundararajan
et al. 2017; Zeiler & Fergus 2014):
    Grad-CAM^c = ReLU(sum_k alpha_k^c A^k),  alpha_k^c = mean_ij d y^c / d A^k_ij
    saliency   = max_channels |d y^c / d x|
    SmoothGrad = mean_s d y^c / d x |_{x + N(0, sigma^2)}
    guided     = d y^c / d x with each ReLU's backward rule replaced by
                 g_in = g_out * [a > 0] * [g_out > 0]   (Springenberg et al. 2015)
    IG_i       = (x_i - x0_i) * mean_{m=1..M} d y^c / d x_i |_{x0 + (m - 1/2)/M (x - x0)}
                 (midpoint rule; completeness: sum_i IG_i ~= y^c(x) - y^c(x0))
    occlusion  = y^c(x) - y^c(x with a grey patch at each position), all patches one batch
"""
from typing import Callable

import flax.linen as nn
import jax
import jax.extend.core as jex
import jax.numpy as jnp
import numpy as np


def _path_matches(context, layer: tuple[str, ...]) -> bool:
  return context.method_name == '__call__' and tuple(context.module.path) == layer


def layer_activation_and_grad(model: nn.Module, variables, x: jax.Array, layer: str,
                              score_fn: Callable[[jax.Array], jax.Array], **apply_kwargs):
  """(A, dS/dA, S): the output A `[N, h, w, C]` of module `layer` (path 'a/b'), the gradient
  of S = sum(score_fn(logits)) with respect to it, and the scores `[N]`."""
  path = tuple(layer.split('/'))
  apply_kwargs.setdefault('train', False)

  def forward(delta):
    taken = {}

    def interceptor(next_fun, args, kwargs, context):
      out = next_fun(*args, **kwargs)
      if _path_matches(context, path):
        out = out + delta if delta is not None else out
        taken['a'] = out
      return out
    with nn.intercept_methods(interceptor):
      logits = model.apply(variables, x, **apply_kwargs)
    if 'a' not in taken:
      from cnn_jax.models.summary import summarize
      names = [r.layer for r in summarize(model, x.shape[1:], depth=9)[1:-1]]
      raise KeyError(f'No layer named {layer!r}; layers are: {names}')
    return logits, taken['a']

  shape = jax.eval_shape(lambda: forward(None)[1])
  delta0 = jnp.zeros(shape.shape, shape.dtype)
  def total(d):
    logits, acts = forward(d)
    scores = score_fn(logits)
    return jnp.sum(scores), (scores, acts)
  (_, (scores, acts)), grads = jax.value_and_grad(total, has_aux=True)(delta0)
  return acts, grads, scores


def grad_cam(model, variables, x, layer: str, score_fn, **apply_kwargs) -> jax.Array:
  """Grad-CAM `[N, h, w]` at `layer`'s resolution (not upsampled, not normalised):
  ReLU(sum_k alpha_k A^k), alpha_k = spatial mean of dS/dA^k (pytorch-grad-cam's GradCAM)."""
  acts, grads, _ = layer_activation_and_grad(model, variables, x, layer, score_fn, **apply_kwargs)
  alpha = jnp.mean(grads, axis=(1, 2), keepdims=True)
  return jax.nn.relu(jnp.sum(alpha * acts, axis=-1))


def upsample_cam(cam: jax.Array, size: tuple[int, int]) -> jax.Array:
  """`[N, h, w]` -> `[N, H, W]`: each map min-max scaled to [0, 1], then bilinearly resized
  with half-pixel centres (pytorch-grad-cam's `scale_cam_image`: cv2.resize INTER_LINEAR)."""
  lo = cam.min(axis=(1, 2), keepdims=True)
  cam = cam - lo
  cam = cam / (1e-7 + cam.max(axis=(1, 2), keepdims=True))
  return jax.image.resize(cam, (cam.shape[0], *size), 'bilinear', antialias=False)


def input_gradient(model, variables, x, score_fn, **apply_kwargs) -> jax.Array:
  """d sum(score_fn(logits)) / d x, `[N, H, W, C]` (each image's score depends only on it)."""
  apply_kwargs.setdefault('train', False)
  f = lambda x: jnp.sum(score_fn(model.apply(variables, x, **apply_kwargs)))
  return jax.grad(f)(x)


def _repeated_gradient(model, variables, xs, score_fn, chunk: int | None = None,
                       **apply_kwargs) -> jax.Array:
  """d/dxs of sum(score_fn) for `xs` `[S, N, ...]`: S copies of a batch of N run as ONE batch
  of S * N, `score_fn` applied per copy (it may index per image, e.g. each one's class).
  `chunk`: at most this many copies per pass (`lax.map` over groups), bounding memory."""
  apply_kwargs.setdefault('train', False)
  s, n = xs.shape[:2]
  if chunk is not None and chunk < s:
    one = lambda x: _repeated_gradient(model, variables, x[None], score_fn, **apply_kwargs)[0]
    return jax.lax.map(one, xs, batch_size=chunk)

  def f(flat):
    logits = model.apply(variables, flat, **apply_kwargs)
    return jnp.sum(jax.vmap(score_fn)(logits.reshape(s, n, *logits.shape[1:])))
  return jax.grad(f)(xs.reshape(s * n, *xs.shape[2:])).reshape(xs.shape)


def saliency(model, variables, x, score_fn, **apply_kwargs) -> jax.Array:
  """Vanilla gradient saliency `[N, H, W]`: max over channels of |dS/dx|."""
  return jnp.max(jnp.abs(input_gradient(model, variables, x, score_fn, **apply_kwargs)), -1)


@jax.custom_vjp
def guided_relu(x: jax.Array) -> jax.Array:
  """max(x, 0) whose backward pass lets only positive gradients through where x > 0."""
  return jnp.maximum(x, 0)


guided_relu.defvjp(lambda x: (jnp.maximum(x, 0), x),
                   lambda x, g: (g * (x > 0) * (g > 0),))


def _is_zero(v) -> bool:
  return isinstance(v, jex.Literal) and np.all(np.asarray(v.val) == 0)


def _eval_guided(jaxpr, consts, *args) -> list:
  """Evaluates `jaxpr` with every max(a, 0) (jax.nn.relu, relu6's lower clip,
  jnp.maximum(a, 0)) replaced by `guided_relu`; calls and custom-JVP functions are entered so
  the ReLUs inside them are found; every other primitive is bound as is."""
  env = {}
  read = lambda v: v.val if isinstance(v, jex.Literal) else env[v]
  env.update(zip(jaxpr.constvars, consts))
  env.update(zip(jaxpr.invars, args))
  for eqn in jaxpr.eqns:
    vals, params, name = [read(v) for v in eqn.invars], eqn.params, eqn.primitive.name
    sub = params.get('call_jaxpr', params.get('jaxpr'))
    if name == 'max' and (_is_zero(eqn.invars[0]) or _is_zero(eqn.invars[1])):
      outs = [guided_relu(vals[1] if _is_zero(eqn.invars[0]) else vals[0])]
    elif name in ('custom_jvp_call', 'jit', 'pjit', 'closed_call') and sub is not None:
      closed = sub if isinstance(sub, jex.ClosedJaxpr) else jex.ClosedJaxpr(sub, ())
      outs = _eval_guided(closed.jaxpr, closed.consts, *vals)
    else:
      outs = eqn.primitive.bind(*vals, **eqn.primitive.get_bind_params(params))
      outs = outs if eqn.primitive.multiple_results else [outs]
    env.update(zip(eqn.outvars, outs))
  return [read(v) for v in jaxpr.outvars]


def guided_backprop(model, variables, x, score_fn, **apply_kwargs) -> jax.Array:
  """Guided backpropagation `[N, H, W, C]`: d sum(score_fn(logits)) / d x through the
  network's own jaxpr with the guided ReLU rule (no model change, no hooks). A ReLU6 keeps
  its upper clip's ordinary gradient."""
  apply_kwargs.setdefault('train', False)
  f = lambda x: jnp.sum(score_fn(model.apply(variables, x, **apply_kwargs)))
  closed = jax.make_jaxpr(f)(x)
  return jax.grad(lambda x: _eval_guided(closed.jaxpr, closed.consts, x)[0])(x)


def smooth_grad(model, variables, x, score_fn, key, samples: int = 16, sigma: float = 0.15,
                chunk: int | None = None, **apply_kwargs) -> jax.Array:
  """SmoothGrad `[N, H, W, C]`: the input gradient averaged over `samples` noisy copies
  (noise std `sigma` times the input's value range), all copies in one batch (or `chunk`
  copies at a time)."""
  span = jnp.max(x) - jnp.min(x)
  noise = sigma * span * jax.random.normal(key, (samples, *x.shape), x.dtype)
  return _repeated_gradient(model, variables, x[None] + noise, score_fn, chunk,
                            **apply_kwargs).mean(0)


def integrated_gradients(model, variables, x, score_fn, baseline: jax.Array | None = None,
                         steps: int = 32, chunk: int | None = None, **apply_kwargs) -> jax.Array:
  """Integrated gradients `[N, H, W, C]` from `baseline` (default zeros) by the midpoint
  rule with `steps` points, evaluated as one batch of N * steps images (or `chunk` path
  points at a time: memory for large N or images)."""
  x0 = jnp.zeros_like(x) if baseline is None else jnp.broadcast_to(baseline, x.shape)
  t = (jnp.arange(steps, dtype=x.dtype) + 0.5) / steps
  path = x0[None] + t[:, None, None, None, None] * (x - x0)[None]
  g = _repeated_gradient(model, variables, path, score_fn, chunk, **apply_kwargs)
  return (x - x0) * g.mean(0)


def occlusion(model, variables, image: jax.Array, score_fn, patch: int = 32, stride: int = 16,
              fill: float | jax.Array = 0.0, batch: int = 64, **apply_kwargs) -> jax.Array:
  """Occlusion map `[rows, cols]` for ONE image `[H, W, C]`: score(x) - score(x with a
  `patch` x `patch` square set to `fill` at each `stride` position); positions evaluated in
  batches of `batch` (one compiled batch shape; the last is padded)."""
  apply_kwargs.setdefault('train', False)
  h, w = image.shape[:2]
  rows, cols = (h - patch) // stride + 1, (w - patch) // stride + 1
  if rows < 1 or cols < 1:
    raise ValueError(f'patch={patch} is larger than the image {image.shape[:2]}.')
  ys = jnp.repeat(jnp.arange(rows) * stride, cols)
  xs = jnp.tile(jnp.arange(cols) * stride, rows)
  yy, xx = jnp.arange(h)[:, None], jnp.arange(w)[None, :]

  def occluded(y, x):
    inside = (yy >= y) & (yy < y + patch) & (xx >= x) & (xx < x + patch)
    return jnp.where(inside[..., None], fill, image)
  score = jax.jit(lambda b: score_fn(model.apply(variables, b, **apply_kwargs)))
  base = score(image[None])[0]
  total = rows * cols
  pad = (-total) % batch
  ys, xs = jnp.pad(ys, (0, pad)), jnp.pad(xs, (0, pad))
  out = []
  for i in range(0, total + pad, batch):
    out.append(score(jax.vmap(occluded)(ys[i:i + batch], xs[i:i + batch])))
  return (base - jnp.concatenate(out)[:total]).reshape(rows, cols)
