"""The `summary` task: print the course's table for a registered model.

    python launch.py --config experiments/summary.py:resnet50

Rows are `models.summarize(model, (H, W, C), depth)`: every layer (module) at most `depth`
levels deep in call order, its activation shape and size, and its parameter count, with
totals. Shapes only (`jax.eval_shape`): nothing is compiled or allocated. No workdir needed.
"""
from cnn_jax import models

NEEDS_WORKDIR = False


def run(config, workdir: str | None = None) -> list:
  """Prints the table for config.model at config.data.image_size/channels; returns the rows.

  config.model: `name` plus model kwargs; config.depth: submodule levels listed;
  config.batch_size: the batch dim used for the trace (shapes are printed without it).
  """
  del workdir
  kwargs = {k: v for k, v in config.model.to_dict().items() if k != 'name'}
  model = models.create(config.model.name, **kwargs)
  input_shape = (config.data.image_size, config.data.image_size, config.data.channels)
  rows = models.summarize(model, input_shape, depth=config.depth, batch_size=config.batch_size)
  options = ''.join(f', {k}={v!r}' for k, v in sorted(kwargs.items()))
  print(f'{config.model.name}{options} on input {input_shape}, depth {config.depth}:')
  print(models.format_summary(rows))
  return rows
