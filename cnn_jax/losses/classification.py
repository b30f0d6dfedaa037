"""Classification losses: pure functions of (logits, labels)."""
import jax
import optax


def cross_entropy(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0) -> jax.Array:
  """Per-example softmax cross-entropy, `[..., K], [...] int -> [...]`.

  L = -sum_k y_k log softmax(z)_k, with y = (1 - e) one_hot(label) + e / K when label
  smoothing e > 0 (Szegedy et al. 2016). log-softmax is computed stably from the logits.
  """
  num_classes = logits.shape[-1]
  targets = jax.nn.one_hot(labels, num_classes, dtype=logits.dtype)
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits, targets)
