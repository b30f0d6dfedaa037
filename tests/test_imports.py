"""The import structure of cnn_jax, read from the source (AST), against docs/design.md.

Every `import` / `from ... import` in every module under cnn_jax/, at module level or inside
a function, becomes an edge between modules. Checked: no cycles; every edge between packages
allowed by the layer table in docs/design.md (parsed from it, so the doc and this test cannot
drift apart); ops/ pure jax.numpy; train/ importing nothing of cnn_jax; matplotlib in viz/
only; torch in the reference timer only. Nothing is imported, so this runs in a second.
"""
import ast
import collections
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DESIGN = ROOT / 'docs' / 'design.md'
# lazy loading; the CPU's name; XLA's conv library; per-machine JSON caches (docs/design.md)
ALWAYS = {'_lazy', '_cpu', '_malloc', '_xla_flags', '_json_cache'}


def _modules() -> dict[str, pathlib.Path]:
  """'cnn_jax.ops.conv' -> path, packages by their __init__.py."""
  found = {}
  for path in sorted((ROOT / 'cnn_jax').rglob('*.py')):
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
      parts.pop()
    found['.'.join(parts)] = path
  return found


MODULES = _modules()


def _resolve(name: str) -> str:
  """The longest prefix of a dotted name that is a cnn_jax module (an imported function or
  class resolves to its module)."""
  while name not in MODULES:
    name = name.rpartition('.')[0]
  return name


def _imports(module: str, path: pathlib.Path):
  """Yields (imported name, line, inside_function) for every import statement."""
  package = module if path.name == '__init__.py' else module.rpartition('.')[0]

  def visit(node, in_function):
    for child in ast.iter_child_nodes(node):
      inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
      if isinstance(child, ast.Import):
        for alias in child.names:
          yield alias.name, child.lineno, inner
      elif isinstance(child, ast.ImportFrom):
        base = child.module or ''
        if child.level:  # relative: from . import x / from ..y import z
          anchor = package.split('.')[:len(package.split('.')) - child.level + 1]
          base = '.'.join(anchor + ([base] if base else []))
        for alias in child.names:
          full = f'{base}.{alias.name}'
          yield (full if full.split('.')[0] == 'cnn_jax' and full in MODULES else base,
                 child.lineno, inner)
      yield from visit(child, inner)

  yield from visit(ast.parse(path.read_text(), str(path)), False)


def _graph():
  """Internal edges {module: {target: 'file:line'}} and external top-level names per module."""
  internal = collections.defaultdict(dict)
  external = collections.defaultdict(dict)
  for module, path in MODULES.items():
    for name, line, _ in _imports(module, path):
      where = f'{path.relative_to(ROOT)}:{line}'
      if name.split('.')[0] == 'cnn_jax':
        target = _resolve(name)
        if target != module:
          internal[module].setdefault(target, where)
      else:
        external[module].setdefault(name.split('.')[0], where)
  return internal, external


INTERNAL, EXTERNAL = _graph()


def _package(module: str) -> str:
  """'cnn_jax.ops.conv' -> 'ops'; 'cnn_jax.bench' -> 'bench'; 'cnn_jax' -> 'cnn_jax'."""
  parts = module.split('.')
  return parts[1] if len(parts) > 1 else parts[0]


def _layer_table() -> dict[str, set[str]]:
  """The rows between <!-- layers:begin --> and <!-- layers:end --> of docs/design.md."""
  text = DESIGN.read_text()
  match = re.search(r'<!-- layers:begin -->(.*?)<!-- layers:end -->', text, re.S)
  assert match, f'{DESIGN} has no <!-- layers:begin --> ... <!-- layers:end --> table'
  table = {}
  for row in match.group(1).strip().splitlines():
    cells = [c.strip() for c in row.strip().strip('|').split('|')]
    if len(cells) != 2 or set(cells[0]) <= set('-') or cells[0] == 'package':
      continue
    table[cells[0].strip('`')] = set(re.findall(r'`([\w.]+)`', cells[1]))
  return table


def test_the_layer_table_parses_and_covers_every_package():
  table = _layer_table()
  assert table['ops'] == set() and table['train'] == set() and table['nn'] == {'ops'}
  missing = {_package(m) for m in MODULES} - set(table)
  assert not missing, f'packages missing from the layer table in {DESIGN}: {sorted(missing)}'
  for package, targets in table.items():
    for target in targets:
      assert target.split('.')[0] in table, f'{package} -> {target}: no such package row'
      if '.' in target:
        assert f'cnn_jax.{target}' in MODULES, f'{package} -> {target}: no such module'


def _cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
  """Strongly connected components with more than one module (Tarjan, iterative)."""
  index, low, on_stack, stack, found = {}, {}, set(), [], []
  counter = 0
  for root in MODULES:
    if root in index:
      continue
    work = [(root, iter(graph.get(root, ())))]
    index[root] = low[root] = counter
    counter += 1
    stack.append(root)
    on_stack.add(root)
    while work:
      node, children = work[-1]
      child = next(children, None)
      if child is not None:
        if child not in index:
          index[child] = low[child] = counter
          counter += 1
          stack.append(child)
          on_stack.add(child)
          work.append((child, iter(graph.get(child, ()))))
        elif child in on_stack:
          low[node] = min(low[node], index[child])
        continue
      work.pop()
      if work:
        low[work[-1][0]] = min(low[work[-1][0]], low[node])
      if low[node] == index[node]:
        component = []
        while True:
          member = stack.pop()
          on_stack.discard(member)
          component.append(member)
          if member == node:
            break
        if len(component) > 1:
          found.append(sorted(component))
  return found


def test_cycle_finder_finds_a_planted_cycle():
  # The checker itself: a three-module ring and a self-contained pair are found, a chain is not.
  graph = {'cnn_jax.ops.conv': {'cnn_jax.ops.conv_fast': ''},
           'cnn_jax.ops.conv_fast': {'cnn_jax.ops.conv_taps': ''},
           'cnn_jax.ops.conv_taps': {'cnn_jax.ops.conv': ''},
           'cnn_jax.data.sources': {'cnn_jax.data.dataset': ''}}
  assert _cycles(graph) == [['cnn_jax.ops.conv', 'cnn_jax.ops.conv_fast', 'cnn_jax.ops.conv_taps']]


def test_no_import_cycles():
  # Imports inside functions count: a circle that a function-local import hides is a circle.
  cycles = _cycles(INTERNAL)
  detail = [' -> '.join(c) + ' (' + ', '.join(
      f'{a} imports {b} at {INTERNAL[a][b]}' for a in c for b in c if b in INTERNAL[a]) + ')'
            for c in cycles]
  assert not cycles, 'import cycles:\n' + '\n'.join(detail)


def test_imports_follow_the_layer_table():
  table = _layer_table()
  bad = []
  for module, targets in sorted(INTERNAL.items()):
    source = _package(module)
    for target, where in sorted(targets.items()):
      dest = _package(target)
      allowed = table[source] | ALWAYS | {source}
      short = target.removeprefix('cnn_jax.')
      if dest not in allowed and not any(short == a or short.startswith(a + '.')
                                         for a in allowed):
        bad.append(f'{where}: {module} imports {target} ({source} -> {dest})')
  assert not bad, (f'imports the layer table in {DESIGN.relative_to(ROOT)} does not allow '
                   '(move the shared piece down, or change the table and say why):\n'
                   + '\n'.join(bad))


def test_train_imports_nothing_above_it():
  above = {f'{m} imports {t} at {w}' for m, ts in INTERNAL.items() if _package(m) == 'train'
           for t, w in ts.items() if _package(t) not in {'train'} | ALWAYS}
  assert not above, '\n'.join(sorted(above))


@pytest.mark.parametrize('forbidden', ['flax', 'optax', 'orbax', 'matplotlib', 'tensorflow',
                                       'tensorflow_datasets', 'torch'])
def test_ops_is_pure_jax(forbidden):
  users = [f'{m} at {ext[forbidden]}' for m, ext in EXTERNAL.items()
           if _package(m) == 'ops' and forbidden in ext]
  assert not users, f'ops/ must not import {forbidden}: ' + ', '.join(users)


# Scripts that time torchvision on the suites' workloads in a throwaway venv (never imported by
# the package at run time; torch is imported inside the function that times it).
REFERENCE_TIMERS = ('cnn_jax.benchmarks._boxes_reference', 'cnn_jax.benchmarks._yolo_reference',
                    'cnn_jax.benchmarks._faster_rcnn_reference',
                    'cnn_jax.benchmarks._unet_reference')


def test_matplotlib_only_in_viz_and_torch_only_in_the_reference_timer():
  plots = [f'{m} at {ext["matplotlib"]}' for m, ext in EXTERNAL.items()
           if 'matplotlib' in ext and _package(m) != 'viz']
  assert not plots, 'matplotlib outside viz/: ' + ', '.join(plots)
  torch = [f'{m} at {ext[name]}' for m, ext in EXTERNAL.items() for name in ('torch', 'torchvision')
           if name in ext and m not in REFERENCE_TIMERS]
  assert not torch, 'PyTorch imported: ' + ', '.join(torch)


def test_the_scan_sees_known_edges():
  # Guards the scanner: a module-level import, a function-level one, a package import.
  assert 'cnn_jax.ops.conv_geometry' in INTERNAL['cnn_jax.ops.conv_taps']
  assert 'cnn_jax.viz.topk' in INTERNAL['cnn_jax.tasks.imagenet_predict']  # inside run()
  assert 'cnn_jax.models' in INTERNAL['cnn_jax.weights.convert']
  assert 'flax' in EXTERNAL['cnn_jax.nn.conv'] and 'jax' in EXTERNAL['cnn_jax.ops.conv']
