"""Starting from someone else's parameters: merge a pretrained variable tree into a fresh one.

Generic over pytrees (nothing here knows about models): leaves are matched by their
'/'-joined paths. A pretrained leaf whose path is missing from the fresh tree is an error;
one whose shape differs is an error unless its path matches `reinit` (e.g. a classifier head
for a new number of classes), in which case the fresh leaf is kept.
"""
import os
import re
from typing import Sequence

import flax
import jax
import numpy as np
import orbax.checkpoint as ocp


def _flat(tree) -> dict[str, object]:
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep='/')


def merge_pretrained(fresh, pretrained, reinit: Sequence[str] = ()) -> tuple[dict, list[str], list[str]]:
  """Returns (merged, loaded paths, fresh paths). `fresh` and `pretrained` are nested dicts
  (e.g. {'params': ..., 'batch_stats': ...}); `reinit` holds regexes (full match)."""
  f, p = _flat(fresh), _flat(pretrained)
  unknown = sorted(set(p) - set(f))
  if unknown:
    raise ValueError(f'Pretrained weights hold {len(unknown)} entries the model lacks: '
                     f'{unknown[:12]}{" ..." if len(unknown) > 12 else ""}. Is it the same architecture?')
  merged, loaded = dict(f), []
  for path, value in p.items():
    if any(re.fullmatch(r, path) for r in reinit):
      continue
    if tuple(np.shape(value)) != tuple(np.shape(f[path])):
      raise ValueError(f'Pretrained {path} has shape {np.shape(value)}, the model {np.shape(f[path])}. '
                       'To start it afresh (e.g. a new head), add its pattern to config.transfer.reinit.')
    merged[path] = np.asarray(value, dtype=np.asarray(f[path]).dtype)
    loaded.append(path)
  kept = sorted(set(f) - set(loaded))
  return flax.traverse_util.unflatten_dict(merged, sep='/'), sorted(loaded), kept


def workdir_variables(workdir: str) -> dict:
  """{'params': ..., **model_state} (numpy) from the newest checkpoint of another run's workdir,
  whatever devices and processes saved it: every array is read whole onto this process."""
  directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'No checkpoints in {directory}: config.init_from must be a workdir '
                            'of a finished (or checkpointed) run, "imagenet", or a weight file.')
  with ocp.CheckpointManager(directory) as manager:
    step = manager.latest_step()
  if step is None:
    raise FileNotFoundError(f'{directory} holds no complete checkpoint.')
  item = os.path.join(directory, str(step), 'default')
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  with ocp.StandardCheckpointer() as checkpointer:
    meta = checkpointer.metadata(item)
    meta = getattr(meta, 'item_metadata', meta)  # the tree of array metadata
    meta = getattr(meta, 'tree', meta)
    # The saved shardings name the saving run's devices: ask for one local device instead.
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), meta)
    state = checkpointer.restore(item, target)
  state = jax.tree.map(np.asarray, state)
  return {'params': state['params'], **state.get('model_state', {})}
