"""Neural style transfer costs (Gatys, Ecker & Bethge 2015/2016), as pure functions.

The course's cost of a generated image G for content image C and style image S:

    J(G) = alpha J_content(C, G) + beta J_style(S, G)  (+ gamma TV(G), a smoothness prior)

with activations a^[l] of shape [n_H, n_W, n_C] at chosen layers of a frozen network:

    J_content = 1 / (4 n_H n_W n_C) * sum (a_C - a_G)^2                      ('course')
    Gram:       G_kk' = sum_{i,j} a_ijk a_ijk'    (the [n_C, n_C] matrix A^T A, A = [n_H n_W, n_C])
    J_style^[l] = 1 / (4 n_C^2 (n_H n_W)^2) * sum_{k,k'} (G^S_kk' - G^G_kk')^2 ('course')
    J_style = sum_l lambda_l J_style^[l]

The course's style normalisation is Gatys' own E_l = 1/(4 N_l^2 M_l^2) sum (G - A)^2
(N_l = n_C filters, M_l = n_H n_W positions). Other normalisations in use, selectable by
`norm` (layer weights tuned for one do not carry over to another, nor across image sizes):

    content 'course'  1/(4 n_H n_W n_C) sum (a_C - a_G)^2
    content 'gatys'   1/2 sum (Gatys 2015, eq. 1)
    content 'mean'    mean (PyTorch tutorial, jcjohnson)
    style   'course'  1/(4 n_C^2 (n_H n_W)^2) sum (G_S - G_G)^2
    style   'mean'    mean over k, k' of the squared differences of G / (n_H n_W n_C)
                      (PyTorch tutorial, jcjohnson)

`gram_matrix(a, norm)` returns the raw Gram ('none'), G/(n_H n_W) ('hw': a covariance-like
average over positions, size independent) or G/(n_H n_W n_C) ('hwc'). The style costs build
from the raw Gram so each formula above is exact. Everything is batched over a leading N
and safe under jit/grad/vmap.
"""
from typing import Mapping

import jax
import jax.numpy as jnp

CONTENT_NORMS = ('course', 'gatys', 'mean')
STYLE_NORMS = ('course', 'mean')
GRAM_NORMS = ('none', 'hw', 'hwc')


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
  if value not in allowed:
    raise ValueError(f'{name}={value!r}; choose one of {allowed}.')


def gram_matrix(a: jax.Array, norm: str = 'none') -> jax.Array:
  """`[N, n_H, n_W, n_C]` activations -> `[N, n_C, n_C]` Gram matrices G = A^T A, A the
  activations unrolled to `[n_H n_W, n_C]`; `norm` 'none' | 'hw' (/ n_H n_W) | 'hwc'
  (/ n_H n_W n_C). Computed in float32 at highest matmul precision (a Gram sums n_H n_W
  products: low-precision passes would lose the small style differences)."""
  _check('norm', norm, GRAM_NORMS)
  n, h, w, c = a.shape
  flat = a.reshape(n, h * w, c).astype(jnp.float32)
  g = jnp.einsum('npk,npl->nkl', flat, flat, precision=jax.lax.Precision.HIGHEST)
  if norm == 'hw':
    g = g / (h * w)
  elif norm == 'hwc':
    g = g / (h * w * c)
  return g


def content_cost(a_c: jax.Array, a_g: jax.Array, norm: str = 'course') -> jax.Array:
  """`[N, n_H, n_W, n_C]` content and generated activations -> `[N]` content costs
  ('course': 1/(4 n_H n_W n_C) sum (a_C - a_G)^2; 'gatys': 1/2 sum; 'mean': mean)."""
  _check('norm', norm, CONTENT_NORMS)
  if a_c.shape[1:] != a_g.shape[1:]:
    raise ValueError(f'Content activations {a_c.shape} and generated {a_g.shape} differ: the '
                     'content and generated images must have the same size.')
  sq = jnp.sum(jnp.square(a_c.astype(jnp.float32) - a_g.astype(jnp.float32)), axis=(1, 2, 3))
  h, w, c = a_g.shape[1:]
  return {'course': sq / (4 * h * w * c), 'gatys': sq / 2, 'mean': sq / (h * w * c)}[norm]


def layer_style_cost(gram_s: jax.Array, a_g: jax.Array, norm: str = 'course') -> jax.Array:
  """One layer's style cost: raw target Gram `[N or 1, n_C, n_C]` (from `gram_matrix(a_S)`,
  any style image size) and generated activations `[N, n_H, n_W, n_C]` -> `[N]`:
  'course' 1/(4 n_C^2 (n_H n_W)^2) sum (G_S - G_G)^2, with n_H n_W of the GENERATED image
  (a target Gram from a differently sized style image is rescaled by the position ratio
  first: `style_targets` does that); 'mean' mean((G_S - G_G)^2) / (n_H n_W n_C)^2."""
  _check('norm', norm, STYLE_NORMS)
  _, h, w, c = a_g.shape
  if gram_s.shape[-2:] != (c, c):
    raise ValueError(f'Style Gram {gram_s.shape} does not match {c} channels of {a_g.shape}.')
  sq = jnp.sum(jnp.square(gram_s - gram_matrix(a_g)), axis=(1, 2))
  if norm == 'course':
    return sq / (4.0 * c * c * float(h * w) ** 2)
  return sq / (c * c * float(h * w * c) ** 2)


def style_targets(style_acts: Mapping[str, jax.Array], generated_hw: Mapping[str, tuple[int, int]]
                  | None = None, blend: jax.Array | None = None) -> dict[str, jax.Array]:
  """Raw Gram targets `{layer: [1, n_C, n_C]}` from style activations `{layer: [S, h, w, C]}`.

  Style images need not have the content's size: a Gram sums over positions, so it is
  rescaled by (n_H n_W of the generated image) / (h w of the style image) when
  `generated_hw` gives the generated layer sizes (equivalently, the per-position average
  Gram G/(h w) is matched). Several style images (S > 1) are blended with weights `blend`
  `[S]` (normalised to sum 1; default equal), jcjohnson's -style_blend_weights.
  """
  out = {}
  for name, a in style_acts.items():
    g = gram_matrix(a, 'hw')  # per-position average: comparable across sizes
    s = g.shape[0]
    wts = jnp.full((s,), 1.0 / s) if blend is None else jnp.asarray(blend, jnp.float32)
    if wts.shape != (s,):
      raise ValueError(f'blend has shape {wts.shape}; expected ({s},), one weight per style image.')
    g = jnp.tensordot(wts / jnp.sum(wts), g, axes=1)[None]
    hw = (a.shape[1] * a.shape[2] if generated_hw is None
          else generated_hw[name][0] * generated_hw[name][1])
    out[name] = g * hw
  return out


def style_cost(grams_s: Mapping[str, jax.Array], acts_g: Mapping[str, jax.Array],
               weights: Mapping[str, float], norm: str = 'course') -> tuple[jax.Array, dict]:
  """J_style = sum_l lambda_l J_style^[l] over `weights` {layer: lambda_l}: `[N]` total and
  `{layer: [N]}` per-layer costs. Every weighted layer must be in both dicts."""
  missing = sorted(set(weights) - set(grams_s) | set(weights) - set(acts_g))
  if missing:
    raise KeyError(f'Style layers {missing} have no target Gram or no activation.')
  per_layer = {k: layer_style_cost(grams_s[k], acts_g[k], norm) for k in weights}
  total = sum(float(weights[k]) * v for k, v in per_layer.items())
  return total, per_layer


def total_variation(x: jax.Array, power: int = 2) -> jax.Array:
  """`[N, H, W, C]` -> `[N]`: sum over pixels and channels of |x[i+1,j]-x[i,j]|^p +
  |x[i,j+1]-x[i,j]|^p (p = 2: jcjohnson's TV; p = 1: `tf.image.total_variation`)."""
  if power not in (1, 2):
    raise ValueError(f'power={power}; total variation uses 1 (L1) or 2 (squared L2).')
  dy = x[:, 1:] - x[:, :-1]
  dx = x[:, :, 1:] - x[:, :, :-1]
  f = jnp.abs if power == 1 else jnp.square
  return jnp.sum(f(dy), axis=(1, 2, 3)) + jnp.sum(f(dx), axis=(1, 2, 3))


def softmax_features(a: jax.Array, temperature: float = 1.0) -> jax.Array:
  """`[N, H, W, C]` -> the same shape, softmax over all H W C entries of each image
  (Wang et al., CVPR 2021, "Rethinking and improving the robustness of image style
  transfer"): flattens the peaky, large-magnitude activations of non-VGG networks (ResNet,
  MobileNet) so their Gram statistics carry style. `temperature` divides the logits."""
  n = a.shape[0]
  flat = a.reshape(n, -1).astype(jnp.float32) / temperature
  return jax.nn.softmax(flat, axis=-1).reshape(a.shape)
