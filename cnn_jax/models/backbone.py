"""The zoo's backbone contract: every model can end at its features instead of its logits.

    model = models.create('resnet18', num_classes=None)        # headless: no 'fc'
    pooled = model.apply(variables, x)                          # [N, 512]: what 'fc' would see
    pooled, stages = model.apply(variables, x, return_stages=True)
    stages['stage3']                                            # [N, H/16, W/16, 256]
    model.stage_strides()                                       # {'stem': 2, 'stage1': 4, ...}

- `num_classes=None` drops the classifier head (the layers `weights.convert.HEADS` names,
  with the dropout right before them) and returns the pooled features `[N, D]`, float32.
- `return_stages=True` (with or without a head) returns `(output, stages)`, where `output` is
  what the call returns otherwise and `stages` a dict name -> activation (compute dtype):
  'stem' and 'stage1'..'stageN' are, by the one rule all models follow, the *last* activation
  at each stride level (stem: stride 2, stage k: stride 2^(k+1) at full-size input; the
  'small_input' variants skip downsamplings, so use `stage_strides()`), and 'pre_logits' is
  the pooled `[N, D]`. Families add names of their own: VGG's 'conv1_1'..'conv5_4' and
  AlexNet's 'conv1'..'conv5' (ReLU outputs, for style and perceptual losses), LeNet-5's
  course layers. Each model's module doc has its table.
- The parameter tree of a headless model is the full model's minus the head, so pretrained
  variables load as they are: `weights.load(name, 'imagenet', include_head=False)`.
- Unused stage outputs cost nothing under `jit` (dead code), so one backbone serves a
  classifier, an FPN (stages by stride), a U-Net encoder and an embedding head alike.
"""
import jax
import jax.numpy as jnp


# The zoo's stage rule at full-size input: the last activation at each stride.
STAGE_STRIDES = {'stem': 2, 'stage1': 4, 'stage2': 8, 'stage3': 16, 'stage4': 32}


def stage_strides(skipped: int = 0, names=tuple(STAGE_STRIDES)) -> dict[str, int]:
  """{name: stride} of `names`, for a variant that leaves out the first `skipped` stride-2
  downsamplings (a 'small_input' stem): stride = max(1, full stride / 2^skipped)."""
  return {n: max(1, STAGE_STRIDES[n] >> skipped) for n in names}


def run_sequential(seq, x: jax.Array, capture: dict[int, str], return_stages: bool):
  """`(seq(x), {name: activation after entry i})` for an `IndexedSequential`, capturing only
  when `return_stages` (so the container's own output, e.g. for `models.features`, stays one
  array in the default call)."""
  return seq(x, capture=capture) if return_stages else (seq(x), {})


def check_num_classes(num_classes: int | None) -> None:
  """num_classes is a positive int, or None for a headless backbone."""
  if num_classes is not None and num_classes < 1:
    raise ValueError(f'num_classes must be a positive int, or None for a headless backbone; '
                     f'got {num_classes!r}.')


def finish(output: jax.Array, stages: dict, return_stages: bool):
  """A model's return value: `output` (logits `[N, num_classes]`, or the pooled `[N, D]` when
  headless) as float32, then `(that, stages)` when `return_stages`."""
  output = output.astype(jnp.float32)
  return (output, stages) if return_stages else output
