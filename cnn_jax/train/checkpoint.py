"""Atomic checkpoints of the whole TrainState with Orbax.

Orbax writes each step into a temporary directory and renames it when complete, so a
crash mid-save leaves the previous checkpoints untouched and is ignored on restore.
"""
import os

import jax
import orbax.checkpoint as ocp

from cnn_jax.train.state import TrainState


class Checkpointer:
  """Keeps the newest `keep` checkpoints of a TrainState in `<workdir>/checkpoints`."""

  def __init__(self, workdir: str, keep: int = 2):
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    """Step of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, state: TrainState) -> None:
    """Saves `state` under its step (a no-op if that step is already saved); waits for it."""
    step = int(jax.device_get(state.step))
    if step in self._manager.all_steps():
      return
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore(self, like: TrainState, step: int | None = None) -> TrainState:
    """Restores checkpoint `step` (default newest) with the structure and shardings of `like`."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
