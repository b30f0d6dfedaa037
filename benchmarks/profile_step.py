r"""Where a zoo train step's time goes, per op class, from a JAX profiler trace.

    python benchmarks/profile_step.py --workload resnet18 --impls xla auto [--steps 3]

Builds the same step as `side_by_side.py` (cnn_jax.benchmarks.models: forward in train mode,
cross-entropy, backward, SGD momentum), runs `--steps` steps under `jax.profiler.trace`, and
sums the spans of the XLA:CPU thunks that the trace records on the executing threads, from
each thunk's start to its 'end: <name>' event (an asynchronous thunk, such as XLA's Eigen
convolution, returns at once and finishes on the intra-op pool; its event alone would count
only the launch), classed by what each HLO instruction (or the body of a fusion) computes:

    conv      convolution (lax.conv and YNNPACK convolution fusions)
    matmul    dot (im2col / per-tap matmuls, the classifier)
    pool      reduce-window, select-and-scatter
    reduce    other reductions (batch-norm statistics, loss, gradient norms)
    fusion    other fused elementwise work (batch-norm apply, ReLU, optimizer update, pads)
    copy      copy / transpose / slice / concatenate / dynamic-update-slice outside fusions
    other     everything else

Thunks on different threads can overlap, so the shares are of summed thunk time (up to
twice the step time on 2 cores), not of wall time. Prints one table row per class and impl.
"""
import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.profiler import ProfileData

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import side_by_side  # noqa: E402  (the same train steps as the side-by-side timing)

CLASSES = ('conv', 'matmul', 'pool', 'reduce', 'fusion', 'copy', 'other')
_COPY = {'copy', 'transpose', 'slice', 'concatenate', 'dynamic-update-slice', 'dynamic-slice',
         'pad', 'broadcast', 'reshape', 'bitcast'}


def classify_hlo(hlo_text: str) -> dict[str, str]:
  """{instruction name: class} for every instruction of the compiled module's HLO text."""
  bodies, current = {}, None
  for line in hlo_text.splitlines():
    m = re.match(r'^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$', line)
    if m and '=' not in line.split('{')[0]:
      current = m.group(1)
      bodies[current] = []
    elif current is not None:
      bodies[current].append(line)
  out = {}
  for lines in bodies.values():
    for line in lines:
      m = re.match(r'^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*\S+\s+([\w\-]+)\(', line)
      if not m:
        continue
      name, op = m.groups()
      if op == 'fusion':
        called = re.search(r'calls=%?([\w.\-]+)', line)
        body = '\n'.join(bodies.get(called.group(1), [])) if called else ''
        out[name] = _kind(body)
      else:
        out[name] = _kind(f' {op}(')
  return out


def _kind(body: str) -> str:
  ops = set(re.findall(r'\s([\w\-]+)\(', body))
  if 'convolution' in ops:
    return 'conv'
  if 'dot' in ops:
    return 'matmul'
  if ops & {'reduce-window', 'select-and-scatter'}:
    return 'pool'
  if 'reduce' in ops:
    return 'reduce'
  if ops and ops <= _COPY | {'parameter', 'constant', 'get-tuple-element', 'tuple'}:
    return 'copy'
  if ops & {'add', 'multiply', 'subtract', 'divide', 'maximum', 'select', 'rsqrt', 'exp',
            'compare', 'convert', 'negate', 'sqrt', 'log'}:
    return 'fusion'
  return 'other'


def profile(step, args, steps: int) -> tuple[dict[str, float], float]:
  """({class: summed thunk ms per step}, median wall ms per step) of a compiled step."""
  compiled = jax.jit(step).lower(*args).compile()
  kinds = classify_hlo(compiled.as_text())
  jax.block_until_ready(compiled(*args))
  folder = tempfile.mkdtemp(prefix='cnn_jax_profile_')
  walls = []
  with jax.profiler.trace(folder):
    for _ in range(steps):
      t = time.perf_counter()
      jax.block_until_ready(compiled(*args))
      walls.append((time.perf_counter() - t) * 1e3)
  data = ProfileData.from_file(glob.glob(f'{folder}/**/*.xplane.pb', recursive=True)[-1])
  starts, ends = collections.defaultdict(list), collections.defaultdict(list)
  for plane in data.planes:
    for line in plane.lines:
      if not line.name.startswith('tf_XLA'):
        continue
      for e in line.events:
        if e.name in kinds:
          starts[e.name].append((e.start_ns, e.duration_ns))
        elif e.name.startswith('end: ') and e.name[5:] in kinds:
          ends[e.name[5:]].append(e.start_ns)
  per_class = collections.Counter()
  for name, runs in starts.items():
    done, runs = sorted(ends[name]), sorted(runs)
    for i, (start, duration) in enumerate(runs):
      # An asynchronous thunk (XLA:CPU's Eigen convolutions) returns at once and finishes
      # on the intra-op pool: its span runs to the first 'end: <name>' after its start
      # (and before the same instruction's next start, in the next step).
      limit = runs[i + 1][0] if i + 1 < len(runs) else float('inf')
      end = max([start + duration] + [t for t in done if start <= t < limit][:1])
      per_class[kinds[name]] += (end - start) / 1e6 / steps
  return {c: per_class.get(c, 0.0) for c in CLASSES}, float(np.median(walls))


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workload', default='resnet18')
  parser.add_argument('--impls', nargs='*', default=['xla', 'auto'])
  parser.add_argument('--batch', type=int, default=32)
  parser.add_argument('--steps', type=int, default=3)
  args = parser.parse_args()
  print('load average', os.getloadavg(), flush=True)
  rows = {}
  for impl in args.impls:
    if args.workload == 'lenet5':
      step, step_args = side_by_side._lenet_step(impl, 256)
    else:
      step, step_args = side_by_side._zoo_step(args.workload, impl, args.batch)
    rows[impl] = profile(step, step_args, args.steps)
  print(f'| op class | ' + ' | '.join(f'{i} ms/step (share)' for i in rows) + ' |')
  print('|---|' + '---|' * len(rows))
  for c in CLASSES:
    cells = [f'{r[c]:.0f} ({100 * r[c] / max(sum(r.values()), 1e-9):.0f}%)' for r, _ in rows.values()]
    print(f'| {c} | ' + ' | '.join(cells) + ' |')
  print('| sum of thunks | ' + ' | '.join(f'{sum(r.values()):.0f}' for r, _ in rows.values()) + ' |')
  print('| step wall (median) | ' + ' | '.join(f'{w:.0f}' for _, w in rows.values()) + ' |')
  print('load average', os.getloadavg(), flush=True)


if __name__ == '__main__':
  sys.exit(main())
