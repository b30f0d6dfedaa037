"""Pictures of localization and landmarks: predicted vs true boxes, predicted vs true points."""
from typing import Sequence

import matplotlib.patches as mpatches
import numpy as np

from cnn_jax.viz.figures import plt, save_png


def _box(ax, xyxy, color, style='-'):
  x1, y1, x2, y2 = xyxy
  ax.add_patch(mpatches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                                  edgecolor=color, linestyle=style, linewidth=1.2))


def plot_localization(images: np.ndarray, true_boxes: np.ndarray, true_present: np.ndarray,
                      true_labels: np.ndarray, pred_boxes: np.ndarray, pred_pc: np.ndarray,
                      pred_labels: np.ndarray, class_names: Sequence[str], png_path: str,
                      cols: int = 8):
  """Images [N, H, W, C] in [0, 1]; true boxes [N, 4] xyxy px (green) where true_present;
  predicted boxes (dashed red/orange) where pred_pc >= 0.5. Title 'pred (true)' with p̂_c;
  red when the example is wrong (metrics.localization 'correct' without the IoU test)."""
  rows = -(-len(images) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.75 * rows), squeeze=False)
  for ax in axes.flat:
    ax.axis('off')
  for i, ax in enumerate(axes.flat[:len(images)]):
    im = images[i]
    ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap='gray', vmin=0, vmax=1)
    says = pred_pc[i] >= 0.5
    if true_present[i]:
      _box(ax, true_boxes[i], 'lime')
    if says:
      _box(ax, pred_boxes[i], 'orangered', '--')
    pred = class_names[pred_labels[i]] if says else '-'
    true = class_names[true_labels[i]] if true_present[i] else '-'
    ok = (pred == true)
    ax.set_title(f'{pred} ({true}) {pred_pc[i]:.2f}', fontsize=7, color='black' if ok else 'red')
  fig.suptitle('true box green, predicted dashed; title: predicted (true) p_c', fontsize=8)
  return save_png(fig, png_path)


def plot_landmarks(images: np.ndarray, true_points: np.ndarray, pred_points: np.ndarray,
                   names: Sequence[str], png_path: str, cols: int = 8):
  """Images [N, H, W, C] in [0, 1]; points [N, L, 2] (x, y) pixels: true as circles,
  predicted as crosses, one colour per named point (legend)."""
  rows = -(-len(images) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
  colors = plt.get_cmap('tab10')(np.arange(len(names)))
  for ax in axes.flat:
    ax.axis('off')
  for i, ax in enumerate(axes.flat[:len(images)]):
    im = images[i]
    ax.imshow(im[..., 0] if im.shape[-1] == 1 else im, cmap='gray', vmin=0, vmax=1)
    for k in range(len(names)):
      # imshow puts pixel (i, j)'s centre at (j, i); points use pixel centres j + 0.5
      ax.plot(true_points[i, k, 0] - 0.5, true_points[i, k, 1] - 0.5, 'o', ms=4, mfc='none',
              color=colors[k])
      ax.plot(pred_points[i, k, 0] - 0.5, pred_points[i, k, 1] - 0.5, 'x', ms=4,
              color=colors[k])
  handles = [plt.Line2D([], [], color=c, marker='o', linestyle='', label=n)
             for c, n in zip(colors, names)]
  fig.legend(handles=handles, loc='lower center', ncol=len(names), fontsize=7)
  fig.suptitle('landmarks: true o, predicted x', fontsize=8)
  return save_png(fig, png_path)
