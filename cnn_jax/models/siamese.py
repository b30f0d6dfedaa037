"""Verification as binary classification (the course; Taigman et al. 2014, DeepFace; Koch et
al. 2015): a logistic unit on a symmetric combination of two embeddings.

    y_hat = sigmoid( sum_k w_k * phi(f(x1)_k, f(x2)_k) + b )
      'abs':  phi = |f(x1)_k - f(x2)_k|
      'chi2': phi = (f(x1)_k - f(x2)_k)^2 / (f(x1)_k + f(x2)_k)   (DeepFace's chi^2 similarity,
              for non-negative features; the denominator is kept >= eps)

phi is symmetric in (x1, x2), so the verdict is too: V(a, b) = V(b, a) exactly. The
embedding network is shared (Siamese): one module applied to both inputs. Train with
`optax.sigmoid_binary_cross_entropy(logit, same)`.
"""
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp


def pair_features(e1: jax.Array, e2: jax.Array, kind: str = 'abs', eps: float = 1e-6) -> jax.Array:
  """phi(e1, e2) [..., D] for embeddings [..., D] (module doc); symmetric in e1, e2."""
  if kind == 'abs':
    return jnp.abs(e1 - e2)
  if kind == 'chi2':
    return jnp.square(e1 - e2) / jnp.maximum(e1 + e2, eps)
  raise ValueError(f"similarity must be 'abs' or 'chi2', got {kind!r}.")


class SiameseVerifier(nn.Module):
  """(x1 [N, ...], x2 [N, ...]) -> logits [N] of "same person", one shared `embedder`; or
  pairs stacked on axis 1, x1 [N, 2, ...] with x2=None (how the runner's batches carry them).
  `embed(x)` [N, ...] -> [N, D] is the shared embedding alone (method='embed').

  Attributes:
    embedder: any module mapping a batch of images to vectors [N, D].
    similarity: 'abs' (|f1 - f2|) or 'chi2' (DeepFace's chi^2 terms, on relu(f)).
  """
  embedder: nn.Module
  similarity: Literal['abs', 'chi2'] = 'abs'

  def embed(self, x: jax.Array, train: bool = False) -> jax.Array:
    out = self.embedder(x, train=train)
    if out.ndim != 2:
      raise ValueError(f'The embedder must output vectors [N, D], got {out.shape}: end it '
                       'with a global pool / flatten and a Dense layer.')
    return out

  @nn.compact
  def __call__(self, x1: jax.Array, x2: jax.Array | None = None, train: bool = False) -> jax.Array:
    if x2 is None:
      if x1.ndim < 2 or x1.shape[1] != 2:
        raise ValueError(f'Without x2, x1 must hold pairs [N, 2, ...], got {x1.shape}.')
      x1, x2 = x1[:, 0], x1[:, 1]
    both = self.embed(jnp.concatenate([x1, x2]), train=train)  # one pass, shared weights
    if self.similarity == 'chi2':  # chi^2 is for non-negative features (DeepFace's are ReLU
      both = nn.relu(both)         # outputs): the embedder's vector goes through a ReLU first
    e1, e2 = jnp.split(both, 2)
    return nn.Dense(1, name='logistic')(pair_features(e1, e2, self.similarity))[:, 0]
