r"""The course's table (layer, activation shape, activation size, parameters) for any model.

Commands:
  python launch.py --config experiments/summary.py:resnet50
  python launch.py --config experiments/summary.py:lenet5
  python launch.py --config experiments/summary.py:resnet18,small_input=True,num_classes=10 \
      --config.data.image_size=32 --config.depth=2

The argument is a registered model name (`cnn_jax.models.names()`), optionally followed by
`,key=value` model kwargs (values are Python literals). `depth` is how many levels of
submodules get a row (1: top-level layers; 2: e.g. every ResNet block 'layer2/0' or every
torchvision `features/<i>`). Input: 224x224x3 for the ImageNet zoo, 32x32x1 for lenet5.
Prints the table, nothing is compiled (shapes only, `jax.eval_shape`): about 2-5 s.
No workdir is needed.
"""
import ast

import ml_collections

# Models whose natural input is not ImageNet's 224x224x3.
DEFAULT_INPUT = {'lenet5': (32, 1), 'face_recognition': (150, 3)}


def parse_model_arg(arg: str) -> dict:
  """'resnet18,small_input=True,width_multiplier=0.5' -> {'name': 'resnet18', ...}."""
  name, *pairs = [p.strip() for p in arg.split(',') if p.strip()]
  model = {'name': name}
  for pair in pairs:
    key, sep, value = pair.partition('=')
    if not sep:
      raise ValueError(f'Model kwarg {pair!r} must be key=value (in {arg!r}).')
    try:
      model[key.strip()] = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
      model[key.strip()] = value.strip()  # a bare string, e.g. conv_impl=taps
  return model


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if not arg:
    raise ValueError('Name the model: experiments/summary.py:<model>[,key=value...], e.g. '
                     'experiments/summary.py:resnet50 (see cnn_jax.models.names()).')
  model = parse_model_arg(arg)
  size, channels = DEFAULT_INPUT.get(model['name'], (224, 3))
  c = ml_collections.ConfigDict()
  c.task = 'summary'
  c.model = ml_collections.ConfigDict(model)
  c.data = ml_collections.ConfigDict(dict(image_size=size, channels=channels))
  c.depth = 1
  c.batch_size = 1
  return c
