"""cnn_jax.weights: pretrained-weight readers (no pickle execution), converters and fetching.

    variables = weights.load('mobilenet_v2', 'imagenet')     # = cnn_jax.weights.fetch.load

Submodules (safe_pickle, torch_file, convert, fetch, imagenet, mtcnn, ...) load on first use.
"""
from cnn_jax._lazy import submodule_getattr

_submodule = submodule_getattr(__name__)


def load(*args, **kwargs) -> dict:
  """`cnn_jax.weights.fetch.load`: pretrained Flax variables for a registered model."""
  from cnn_jax.weights.fetch import load as fetch_load
  return fetch_load(*args, **kwargs)


def __getattr__(name: str):
  return _submodule(name)
