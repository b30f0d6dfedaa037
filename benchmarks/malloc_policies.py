r"""cnn_jax's allocation policies (`cnn_jax._malloc`) side by side, one process per policy.

    python benchmarks/malloc_policies.py --workload mobilenet_v2 [--torch-python <venv>/bin/python]

The policy is process-wide and fixed when cnn_jax is imported, so each policy runs in its own
worker process (this script with --worker), all holding the same compiled train step (as
`side_by_side.py` builds it, the runner's whole-step compiler options applied); the driver
asks each in turn, order rotated every round, for `--steps` timed steps, so every policy sees
the same background load. With --torch-python, PyTorch eager (NCHW, 2 threads, its own
allocator defaults) joins the rotation. Prints the median step ms per policy and the minor
page faults per step (`ru_minflt`) each worker saw.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
POLICIES = ('steady', 'system')


def worker(workload: str) -> None:
  sys.path.insert(0, HERE)
  import jax
  import side_by_side  # imports cnn_jax first, so $CNN_JAX_MALLOC applies
  from cnn_jax.train import compile_tuning
  step, args = (side_by_side._lenet_step('default', 256) if workload == 'lenet5'
                else side_by_side._zoo_step(workload, 'default', 32))
  compiled = compile_tuning.tuned_jit(step)
  for _ in range(4):  # chooses the options, compiles, grows the heap to its working size
    jax.block_until_ready(compiled(*args))
  print(json.dumps(dict(ready=compiled.choice['name'])), flush=True)
  for line in sys.stdin:
    times, faults = [], resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(int(line)):
      t = time.perf_counter()
      jax.block_until_ready(compiled(*args))
      times.append(time.perf_counter() - t)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps(dict(times=times, faults=faults / len(times))), flush=True)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workload', default='mobilenet_v2',
                      choices=('lenet5', 'resnet18', 'mobilenet_v2'))
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--torch-python', default='')
  parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(args.workload)
  print('load average', os.getloadavg(), flush=True)
  procs = {}
  for policy in POLICIES:
    procs[policy] = subprocess.Popen(
        [sys.executable, __file__, '--worker', '--workload', args.workload],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, 'CNN_JAX_MALLOC': policy})
    print(policy, 'step options:', json.loads(procs[policy].stdout.readline())['ready'], flush=True)
  torch = name = None
  if args.torch_python:
    sys.path.insert(0, HERE)
    import side_by_side
    from cnn_jax.benchmarks import models as zoo_bench  # the names torch_step_server knows
    torch = side_by_side.Torch(args.torch_python)
    _, _, size, batch, _ = side_by_side.ZOO.get(args.workload, (None,) * 5)
    name = ('lenet5 32px b256 train' if args.workload == 'lenet5' else
            zoo_bench.workload_name(args.workload, size, batch or 32))
  variants = list(procs) + (['torch'] if torch else [])
  samples = {v: [] for v in variants}
  faults = {v: [] for v in procs}
  for r in range(args.rounds):
    for v in variants[r % len(variants):] + variants[:r % len(variants)]:
      if v == 'torch':
        samples[v] += torch.times(name, args.steps)
        continue
      procs[v].stdin.write(f'{args.steps}\n')
      procs[v].stdin.flush()
      reply = json.loads(procs[v].stdout.readline())
      samples[v] += reply['times']
      faults[v].append(reply['faults'])
  for p in procs.values():
    p.stdin.close()
  for v in variants:
    med = statistics.median(samples[v]) * 1e3
    extra = (f'  {statistics.median(faults[v]):8.0f} faults/step' if v in faults else '')
    vs = (f'  vs torch {statistics.median(samples["torch"]) * 1e3 / med:4.2f}x' if torch else '')
    print(f'{args.workload:13s} {v:7s} median {med:8.1f} ms{extra}{vs}', flush=True)
  print('load average', os.getloadavg(), flush=True)


if __name__ == '__main__':
  sys.exit(main())
