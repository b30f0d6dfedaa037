"""Atomic, verified checkpoints of the whole TrainState with Orbax.

Orbax writes each step into a temporary directory and renames it when complete, so a
crash mid-save leaves the previous checkpoints untouched and is ignored on restore. That
does not cover damage after the rename (a full disk, a copy cut short, a bad sector, a
hand-edited file), so every saved step also gets `cnn_jax_manifest.json`: the size and
SHA-256 of each of its files. `restore_latest` checks the newest step against it (and then
restores it); a damaged step is reported with the reason, moved aside to
`checkpoints/<step>.corrupt-<n>` (kept as evidence; Orbax ignores names that are not
integers) and the previous step is tried, down to a fresh start if none is intact.
"""
import hashlib
import json
import os

import jax
import orbax.checkpoint as ocp
from absl import logging

from cnn_jax.train.state import TrainState

MANIFEST = 'cnn_jax_manifest.json'


def _sync(name: str) -> None:
  """All processes reach this point before any goes on (no-op on one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def _files(directory: str) -> dict[str, str]:
  """{path relative to `directory`: absolute path} of every file below it but the manifest."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      rel = os.path.relpath(path, directory)
      if rel != MANIFEST:
        out[rel] = path
  return out


def _digest(path: str) -> str:
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


def write_manifest(step_dir: str) -> None:
  """Records size and SHA-256 of every file of a finished step directory (atomically)."""
  entries = {rel: [os.path.getsize(p), _digest(p)] for rel, p in sorted(_files(step_dir).items())}
  tmp = os.path.join(step_dir, MANIFEST + '.tmp')
  with open(tmp, 'w') as f:
    json.dump({'files': entries}, f, indent=0)
  os.replace(tmp, os.path.join(step_dir, MANIFEST))


def damage(step_dir: str) -> str | None:
  """Why the step directory does not match its manifest (a missing, truncated or altered
  file), or None when it matches. A step without a manifest (written by an older cnn_jax)
  is not judged here; its restore is the test."""
  path = os.path.join(step_dir, MANIFEST)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      entries = json.load(f)['files']
  except (ValueError, KeyError, OSError) as e:
    return f'its manifest {MANIFEST} is unreadable ({e})'
  present = _files(step_dir)
  for rel, (size, sha) in entries.items():
    if rel not in present:
      return f'file {rel} is missing'
    actual = os.path.getsize(present[rel])
    if actual != size:
      return f'file {rel} has {actual} bytes, {size} were written (truncated or appended to)'
    if _digest(present[rel]) != sha:
      return f'file {rel} has the right size but different content (SHA-256 mismatch)'
  return None


class Checkpointer:
  """Keeps the newest `keep` checkpoints of a TrainState in `<workdir>/checkpoints`."""

  def __init__(self, workdir: str, keep: int = 2):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    """Step of the newest complete checkpoint (not verified: see `restore_latest`), or None."""
    return self._manager.latest_step()

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, state: TrainState) -> None:
    """Saves `state` under its step (a no-op if that step is already saved), waits for it,
    then writes the step's manifest (process 0, once every process has written its part)."""
    step = int(jax.device_get(state.step))
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()
    _sync(f'cnn_jax_checkpoint_saved_{step}')
    if jax.process_index() == 0:
      write_manifest(self.step_dir(step))
    _sync(f'cnn_jax_manifest_written_{step}')

  def restore(self, like: TrainState, step: int | None = None) -> TrainState:
    """Restores checkpoint `step` (default newest) with the structure and shardings of `like`,
    without the damage check (`restore_latest` does it)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def restore_latest(self, like: TrainState) -> tuple[TrainState | None, int | None]:
    """(state, step) of the newest intact checkpoint, or (None, None) if there is none.
    Damaged steps (manifest mismatch, or a restore that fails) are logged with the reason
    and moved aside to `<step>.corrupt-<n>`; the next older step is tried."""
    while (step := self.latest_step()) is not None:
      reason = damage(self.step_dir(step))
      if reason is None:
        try:
          return self.restore(like, step), step
        except Exception as e:  # noqa: BLE001 - any failure to read it back is damage
          reason = f'it could not be restored ({type(e).__name__}: {str(e)[:300]})'
      self._set_aside(step, reason)
    return None, None

  def _set_aside(self, step: int, reason: str) -> None:
    source = self.step_dir(step)
    n = 1
    while os.path.exists(f'{source}.corrupt-{n}'):
      n += 1
    target = f'{source}.corrupt-{n}'
    _sync(f'cnn_jax_set_aside_{step}_{n}')  # every process has judged it before it moves
    if jax.process_index() == 0:
      os.rename(source, target)
    _sync(f'cnn_jax_set_aside_done_{step}_{n}')
    self._manager.reload()
    older = self.latest_step()
    logging.warning(
        'Checkpoint of step %d in %s is damaged: %s. Moved it to %s (kept for inspection; '
        'delete it when done). %s', step, self.directory, reason, target,
        f'Trying the checkpoint of step {older}.' if older is not None else
        'No older checkpoint: training starts from step 0.')

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
