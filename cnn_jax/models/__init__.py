"""Flax Linen architectures, by name.

    model = models.create('lenet5', num_classes=10)
    variables = model.init(key, x)                       # x: [N, H, W, C]
    logits = model.apply(variables, x, train=False)
    rows = models.summarize(model, (32, 32, 3))           # the course's table
    acts = models.features(model, variables, x, ['CONV1', 'POOL2'])

Every model takes `[N, H, W, C]` float32 and `train: bool`, returns logits, and keeps
mutable state (batch_stats) in collections the train library threads explicitly.
"""
import importlib

from cnn_jax.models.registry import MODELS
from cnn_jax.models.summary import check_input_shape, features, format_summary, summarize

__all__ = ['create', 'names', 'summarize', 'format_summary', 'features', 'check_input_shape']


def names() -> list[str]:
  """All registered model names."""
  return sorted(MODELS)


def create(name: str, **kwargs):
  """Instantiates registered model `name` with `kwargs` (e.g. `num_classes`)."""
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; choose one of {names()} (config.model.name).')
  module_path, cls_name, fixed = MODELS[name]
  cls = getattr(importlib.import_module(module_path), cls_name)
  clash = sorted(set(fixed) & set(kwargs))
  if clash:
    raise ValueError(f'Model {name!r} fixes {clash}; pick another registered variant instead.')
  try:
    return cls(**fixed, **kwargs)
  except TypeError as e:
    fields = sorted(f for f in cls.__dataclass_fields__ if f not in ('parent', 'name') and f not in fixed)
    raise ValueError(f'Model {name!r} got bad arguments {sorted(kwargs)}: {e}. It takes {fields}.') from None
