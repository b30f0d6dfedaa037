"""A workdir belongs to one configuration: `config.json` records it, a different one is refused.

Resuming a run with another config would silently mix two experiments in one set of
checkpoints and metrics, so it is an error that shows the difference and the way out.
"""
import json
import os

from flax import traverse_util


class WorkdirConfigError(ValueError):
  """The workdir holds a run of a different configuration."""


class WorkdirNotWritableError(ValueError):
  """The workdir (or a file in it) cannot be written: found before training starts."""


def check_writable(workdir: str) -> None:
  """Creates `workdir` and `workdir/checkpoints` if needed and writes and removes a probe file
  in each, so that a read-only or full location fails now, not at the first checkpoint."""
  for directory in (workdir, os.path.join(workdir, 'checkpoints')):
    probe = os.path.join(directory, f'.write_probe_{os.getpid()}')
    try:
      os.makedirs(directory, exist_ok=True)
      with open(probe, 'w') as f:
        f.write('ok')
      os.remove(probe)
    except OSError as e:
      raise WorkdirNotWritableError(
          f'Cannot write to workdir {directory!r} ({e.strerror or e}). Choose a writable '
          '--workdir (checkpoints, metrics and pictures go there) or fix its permissions.') from None


def config_diff(old: dict, new: dict) -> list[str]:
  """Lines 'key: old -> new' for every flattened key that differs."""
  a, b = traverse_util.flatten_dict(old, sep='.'), traverse_util.flatten_dict(new, sep='.')
  missing = object()
  lines = []
  for k in sorted(set(a) | set(b)):
    va, vb = a.get(k, missing), b.get(k, missing)
    if va != vb:
      show = lambda v: '(absent)' if v is missing else json.dumps(v)
      lines.append(f'  {k}: {show(va)} -> {show(vb)}')
  return lines


def check_and_record_config(workdir: str, config: dict, allow_change: bool = False,
                            write: bool = True) -> None:
  """Raises WorkdirConfigError if `<workdir>/config.json` differs from `config` (a JSON-able
  dict) unless `allow_change`; then writes `config` there atomically (when `write`)."""
  path = os.path.join(workdir, 'config.json')
  config = json.loads(json.dumps(config))  # normalise tuples to lists, as stored
  if os.path.exists(path) and not allow_change:
    with open(path) as f:
      old = json.load(f)
    diff = config_diff(old, config)
    if diff:
      raise WorkdirConfigError(
          f'{workdir} holds a run of a different config:\n' + '\n'.join(diff) +
          '\nUse a new --workdir, or pass --allow_config_change to continue this run with '
          'the new config (its checkpoints must still fit the model).')
  if write:
    os.makedirs(workdir, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
      json.dump(config, f, indent=2, sort_keys=True)
    os.replace(path + '.tmp', path)
