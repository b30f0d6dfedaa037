"""torchvision state dicts <-> cnn_jax variables for every zoo model torchvision has.

The zoo's layer names are torchvision's, so a state-dict key maps to one Flax variable by a
fixed rule (for `*path, leaf = key.split('.')`):

    leaf 'weight', 4-D [O, I/g, kh, kw] (conv)   -> params[*path]['kernel']  [kh, kw, I/g, O]
        (depthwise: [C, 1, kh, kw] -> [kh, kw, 1, C], Flax's feature_group_count=C layout)
    leaf 'weight', 2-D [out, in] (Linear)       -> params[*path]['kernel']  [in, out]
    leaf 'weight', 1-D (BatchNorm gamma)        -> params[*path]['scale']
    leaf 'bias'                                 -> params[*path]['bias']
    leaf 'running_mean' / 'running_var'         -> batch_stats[*path]['mean' / 'var']
    leaf 'num_batches_tracked'                  -> dropped (Flax keeps no counter; PyTorch
                                                   only uses it when momentum=None)

Batch-norm semantics carry over unchanged: y = (x - mean) / sqrt(var + eps) * scale + bias
with the model's own eps (1e-5 as PyTorch's default; GoogLeNet 1e-3, set in the zoo to match
torchvision's weights), and PyTorch momentum 0.1 == Flax momentum 0.9 (running = 0.9 running
+ 0.1 batch). PyTorch's running_var is the unbiased batch variance's average; eval uses it as
stored. The converter checks every shape against the model's own variable tree
(`jax.eval_shape` of `init`: nothing allocated) and raises ConversionError listing keys with
no variable, variables with no key, and shape mismatches.

The head (the final classifier: 'fc' for ResNet/GoogLeNet, 'classifier.6' for
AlexNet/VGG, 'classifier.1' for MobileNetV2; GoogLeNet's aux heads' 'aux1.fc2', 'aux2.fc2')
can be left out (`include_head=False`): those variables are then absent from the result,
which is exactly the variable tree of the headless model (`num_classes=None`, see
`models.backbone`), or for `overlay` onto a fresh `model.init` with a new number of classes.
"""
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from cnn_jax import models
from cnn_jax.ops import conv_autotune

KERNEL_PERMUTATION = {4: (2, 3, 1, 0), 2: (1, 0)}       # torch -> Flax
INVERSE_PERMUTATION = {4: (3, 2, 0, 1), 2: (1, 0)}      # Flax -> torch
# Registered model name prefix -> torchvision head module path(s).
HEADS = {'alexnet': ('classifier.6',), 'vgg': ('classifier.6',), 'resnet': ('fc',),
         'resnext': ('fc',), 'wide_resnet': ('fc',), 'googlenet': ('fc', 'aux1.fc2', 'aux2.fc2'),
         'mobilenet_v2': ('classifier.1',)}


class ConversionError(ValueError):
  """The state dict does not fit the model; the message lists every offending name."""


def supported() -> list[str]:
  """Registered model names whose torchvision weights convert."""
  return [n for n in models.names() if any(n.startswith(p) for p in HEADS)]


def head_prefixes(model_name: str) -> tuple[str, ...]:
  """The torchvision module paths of `model_name`'s classifier head(s)."""
  for prefix, heads in HEADS.items():
    if model_name.startswith(prefix):
      return heads
  raise ValueError(f'No torchvision converter for {model_name!r}; supported: {supported()}.')


def flax_path(key: str, ndim: int) -> tuple[str, ...] | None:
  """('params' | 'batch_stats', *module path, leaf) for state-dict `key`; None = dropped."""
  *path, leaf = key.split('.')
  if leaf == 'num_batches_tracked':
    return None
  if leaf in ('running_mean', 'running_var'):
    return ('batch_stats', *path, leaf[len('running_'):])
  if leaf == 'weight':
    return ('params', *path, 'kernel' if ndim in KERNEL_PERMUTATION else 'scale')
  if leaf == 'bias':
    return ('params', *path, 'bias')
  raise ConversionError(f'No rule for state-dict key {key!r} (leaf {leaf!r}).')


def abstract_variables(model, input_shape=(224, 224, 3)) -> dict:
  """The model's variable tree as ShapeDtypeStructs (`jax.eval_shape`, nothing computed)."""
  x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
  with conv_autotune.untimed():  # shapes only: no conv runs, so nothing to time
    return jax.eval_shape(lambda x: model.init({'params': jax.random.key(0)}, x, train=False), x)


flatten = traverse_util.flatten_dict      # nested dicts -> {(*path, leaf name): leaf}
unflatten = traverse_util.unflatten_dict  # the inverse


def _strip_data_parallel(state_dict: dict) -> dict:
  """Drops the 'module.' prefix nn.DataParallel adds, when every key has it."""
  if state_dict and all(k.startswith('module.') for k in state_dict):
    return {k[len('module.'):]: v for k, v in state_dict.items()}
  return state_dict


def _under(key: str, prefixes) -> bool:
  return any(key == p or key.startswith(p + '.') for p in prefixes)


def convert(state_dict: dict, model, model_name: str, include_head: bool = True,
            ignore: tuple[str, ...] = ()) -> dict:
  """torchvision `state_dict` -> {'params': ..., 'batch_stats': ...} numpy trees for `model`.

  Args:
    state_dict: {key: array} (e.g. `torch_file.load_state_dict`).
    model: the cnn_jax module the weights are for (its variable tree is the target).
    model_name: its registered name (selects the head prefixes).
    include_head: False leaves the classifier head(s) out of the result (new num_classes).
    ignore: module paths whose keys are dropped (e.g. GoogLeNet's 'aux1', 'aux2' when the
      model is built without auxiliary heads, as torchvision's own loader does).
  Returns: nested dicts of float32/int numpy arrays in Flax layout.
  Raises: ConversionError listing unmatched keys, missing variables and shape mismatches.
  """
  heads = () if include_head else head_prefixes(model_name)
  target = flatten(abstract_variables(model))
  if not include_head:
    target = {p: v for p, v in target.items() if not _under('.'.join(p[1:-1]), heads)}
  out, unmatched, mismatched, wrong_paths = {}, [], [], set()
  for key, value in _strip_data_parallel(state_dict).items():
    value = np.asarray(value)
    if _under(key, heads) or _under(key, ignore):
      continue
    path = flax_path(key, value.ndim)
    if path is None:
      continue
    if path not in target:
      unmatched.append(key)
      continue
    if path[-1] == 'kernel':
      value = np.transpose(value, KERNEL_PERMUTATION[value.ndim])
    if tuple(value.shape) != tuple(target[path].shape):
      mismatched.append(f'{key}: {tuple(value.shape)} (as Flax) vs {"/".join(path)} '
                        f'{tuple(target[path].shape)}')
      wrong_paths.add(path)
      continue
    out[path] = value.astype(target[path].dtype, copy=False)
  missing = sorted('/'.join(p) for p in target if p not in out and p not in wrong_paths)
  if unmatched or missing or mismatched:
    raise ConversionError(
        f'State dict does not fit {model_name!r}: {len(unmatched)} keys without a variable '
        f'{sorted(unmatched)}; {len(missing)} variables without a key {missing}; '
        f'{len(mismatched)} shape mismatches {mismatched}.')
  return unflatten(out)


def to_torchvision(variables: dict) -> dict[str, np.ndarray]:
  """The inverse: cnn_jax variables -> torchvision state dict (numpy), with a zero int64
  'num_batches_tracked' per batch norm so `torch.nn.Module.load_state_dict` accepts it."""
  state = {}
  for path, value in flatten(variables).items():
    collection, *module, leaf = path
    value = np.asarray(value)
    if collection == 'batch_stats':
      state['.'.join([*module, f'running_{leaf}'])] = value
      if leaf == 'var':
        state['.'.join([*module, 'num_batches_tracked'])] = np.zeros((), np.int64)
    elif leaf == 'kernel':
      state['.'.join([*module, 'weight'])] = np.transpose(value, INVERSE_PERMUTATION[value.ndim])
    else:
      state['.'.join([*module, 'weight' if leaf == 'scale' else leaf])] = value
  return state


def overlay(fresh: dict, pretrained: dict) -> dict:
  """`fresh` (a `model.init` result) with every leaf that `pretrained` has replaced by it.

  The use: `pretrained` came without its head (`include_head=False`), `fresh` supplies a
  newly initialised one. Every pretrained leaf must exist in `fresh` with the same shape
  (else ConversionError listing them): nothing pretrained is silently dropped.
  """
  base = flatten(fresh)
  extra = sorted('/'.join(p) for p in flatten(pretrained) if p not in base)
  wrong = sorted(f'{"/".join(p)}: {np.shape(v)} vs {np.shape(base[p])}'
                 for p, v in flatten(pretrained).items()
                 if p in base and np.shape(v) != np.shape(base[p]))
  if extra or wrong:
    raise ConversionError(f'Pretrained variables that the model lacks: {extra}; '
                          f'shape mismatches: {wrong}.')
  merged = dict(base)
  merged.update(flatten(pretrained))
  return unflatten(merged)
