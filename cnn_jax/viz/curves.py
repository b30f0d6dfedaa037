"""Training curves from `metrics.jsonl` (the run's source of truth)."""
import json


from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def read_jsonl(path: str) -> list[dict]:
  """All records of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def plot_curves(jsonl_path: str, png_path: str, names: tuple[str, ...] = ('loss', 'accuracy')):
  """One panel per metric name: the train/<name> and eval/<name> series against the step."""
  records = read_jsonl(jsonl_path)
  fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
  for ax, name in zip(axes[0], names):
    for split, style in (('train', '-'), ('eval', 'o-')):
      pts = [(r['step'], r[f'{split}/{name}']) for r in records if f'{split}/{name}' in r]
      if pts:
        ax.plot(*zip(*pts), style, label=split, markersize=4)
    ax.set_xlabel('step')
    ax.set_title(name)
    ax.grid(alpha=0.3)
    ax.legend()
  return save_png(fig, png_path)
