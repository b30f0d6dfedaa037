"""Pictures of a classifier's top-k guesses: each photo next to its top-k probability bars."""
import numpy as np

from cnn_jax.viz.figures import plt  # pyplot on the Agg backend


def topk_figure(images: list[np.ndarray], titles: list[str],
                predictions: list[list[tuple[int, str, float]]], suptitle: str = ''):
  """One row per image: the photo (`[H, W, 3]` uint8 or [0, 1] float) and a horizontal bar
  chart of its top-k (class index, name, probability), best on top, bars in [0, 1].

  Returns: the matplotlib Figure.
  """
  rows = len(images)
  fig, axes = plt.subplots(rows, 2, figsize=(9.5, 2.6 * rows), squeeze=False,
                           gridspec_kw=dict(width_ratios=(1, 1.35)))
  for (ax_img, ax_bar), image, title, top in zip(axes, images, titles, predictions):
    ax_img.imshow(image)
    ax_img.set_title(title, fontsize=10)
    ax_img.axis('off')
    labels = [f'{name} ({index})' for index, name, _ in top][::-1]
    probs = [p for _, _, p in top][::-1]
    bars = ax_bar.barh(range(len(top)), probs, color=['#9ab'] * (len(top) - 1) + ['#2a6'])
    ax_bar.set_yticks(range(len(top)), labels, fontsize=9)
    ax_bar.set_xlim(0, 1)
    ax_bar.tick_params(axis='x', labelsize=8)
    for bar, p in zip(bars, probs):
      ax_bar.text(min(p + 0.01, 0.86), bar.get_y() + bar.get_height() / 2, f'{p:.1%}',
                  va='center', fontsize=8)
  axes[-1][1].set_xlabel('softmax probability')
  if suptitle:
    fig.suptitle(suptitle)
  fig.tight_layout()
  return fig
