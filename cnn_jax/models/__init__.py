"""Flax Linen architectures, by name; every one is also a headless backbone.

    model = models.create('lenet5', num_classes=10)
    variables = model.init(key, x)                       # x: [N, H, W, C]
    logits = model.apply(variables, x, train=False)      # [N, 10] float32
    rows = models.summarize(model, (32, 32, 3))           # the course's table
    acts = models.features(model, variables, x, ['CONV1', 'POOL2'])   # any layer by path

    backbone = models.create('mobilenet_v2', num_classes=None)        # no classifier
    pooled = backbone.apply(variables, x)                # [N, 1280]: the head's input
    pooled, stages = backbone.apply(variables, x, return_stages=True)
    stages['stage2'].shape                               # [N, H/8, W/8, 32]
    backbone.stage_strides()                             # {'stem': 2, 'stage1': 4, ...}

Every model takes `[N, H, W, C]` float32 and `train: bool`, returns float32 logits
`[N, num_classes]`, and keeps mutable state (batch_stats) in collections the train library
threads explicitly. The backbone contract (`models.backbone`), the same for every model:

  - `num_classes=None`: headless. The head (final classifier and the dropout before it) is
    not built; the call returns the pooled features `[N, D]` float32 that the head would
    take (VGG/AlexNet: the second 4096-wide FC; VGG with `hidden=None`: no FCs at all, the
    conv-only net style transfer loads). Pretrained variables load as they are:
    `weights.load(name, 'imagenet', include_head=False)`.
  - `return_stages=True`: returns `(output, stages)`, `output` being what the call returns
    otherwise and `stages` a dict name -> activation: 'stem' and 'stage1'..'stage4' (the
    last activation at strides 2, 4, 8, 16, 32 at full-size input; `stage_strides()` gives
    each model's, 'small_input' variants included), 'pre_logits' `[N, D]`, and per-family
    names: VGG 'conv1_1'..'conv5_4' and AlexNet 'conv1'..'conv5' (ReLU outputs), LeNet-5's
    'conv1', 'pool1', 'conv2', 'pool2', 'fc3'. Each model's module doc has its table.
"""
import importlib

from cnn_jax.models.registry import MODELS
from cnn_jax.models.features import features
from cnn_jax.models.summary import check_input_shape, format_summary, summarize

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
