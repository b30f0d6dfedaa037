"""Classification metrics: pure functions of (logits, labels), per example so they can be
summed over padded, masked evaluation batches and accumulated exactly."""
import jax
import jax.numpy as jnp


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """1.0 where argmax(logits) == label: `[B, K], [B] -> [B]` (mean = accuracy)."""
  return (jnp.argmax(logits, -1) == labels).astype(jnp.float32)


def topk_correct(logits: jax.Array, labels: jax.Array, k: int = 5) -> jax.Array:
  """1.0 where the label is among the k largest logits: `[B, K], [B] -> [B]`.

  Ties are broken by `lax.top_k` (lower index first), like `torch.topk`.
  """
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Fraction of argmax hits: `[B, K], [B] -> []`."""
  return correct(logits, labels).mean()


def confusion_terms(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Per-example one-hot outer products `[B, K, K]` (row = true, column = predicted); their
  sum over examples is the confusion matrix."""
  k = logits.shape[-1]
  return jax.nn.one_hot(labels, k)[:, :, None] * jax.nn.one_hot(jnp.argmax(logits, -1), k)[:, None, :]


def confusion_matrix(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Counts `[K, K]`: entry (i, j) = examples of class i predicted as j."""
  return confusion_terms(logits, labels).sum(0)
