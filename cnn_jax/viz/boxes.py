"""Pictures for multi-object detectors: labelled boxes on images, precision-recall curves."""
import matplotlib.patches as patches
import numpy as np

from cnn_jax.viz.figures import plt, save_png  # pyplot on the Agg backend


def plot_detections(images: np.ndarray, det: dict, gt: dict | None, class_names, png_path: str,
                    columns: int = 4) -> tuple[bytes, int, int]:
  """One panel per image `[B, H, W, C]` in [0, 1]: predicted boxes (solid, 'name score') and,
  when `gt` is given, true boxes (dashed). det: {'boxes' [B, D, 4], 'scores', 'labels',
  'valid'}; gt: {'boxes' [B, N, 4], 'labels', 'valid'}."""
  n = len(images)
  rows = -(-n // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.6 * rows), squeeze=False)
  colours = plt.get_cmap('tab10')
  for i, ax in enumerate(axes.ravel()):
    ax.set_xticks([]), ax.set_yticks([])
    if i >= n:
      ax.axis('off')
      continue
    image = np.asarray(images[i])
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap='gray', vmin=0, vmax=1)
    if gt is not None:
      for box, label, ok in zip(gt['boxes'][i], gt['labels'][i], gt['valid'][i]):
        if ok:
          x1, y1, x2, y2 = (float(v) for v in box)
          ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                         edgecolor='white', linewidth=1.0, linestyle='--'))
    for box, score, label, ok in zip(det['boxes'][i], det['scores'][i], det['labels'][i],
                                     det['valid'][i]):
      if not ok:
        continue
      x1, y1, x2, y2 = (float(v) for v in box)
      colour = colours(int(label) % 10)
      ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour,
                                     linewidth=1.5))
      ax.text(x1, y1 - 1, f'{class_names[int(label)]} {float(score):.2f}', color='black',
              fontsize=6, va='bottom', bbox=dict(facecolor=colour, edgecolor='none', pad=0.5))
  fig.suptitle('detections (solid) and truth (dashed)', fontsize=9)
  return save_png(fig, png_path)


def plot_pr_curves(recall: np.ndarray, precision: np.ndarray, class_names, png_path: str,
                   title: str = 'precision-recall at IoU 0.5') -> tuple[bytes, int, int]:
  """precision `[R, K]` at the recall thresholds `[R]` (COCO's interpolated envelope; -1 =
  class without ground truth, not drawn), one curve per class."""
  fig, ax = plt.subplots(figsize=(5.5, 4.5))
  for k, name in enumerate(class_names):
    p = precision[:, k]
    if (p > -1).any():
      ax.plot(recall, np.maximum(p, 0), label=f'{name} (AP50 {np.maximum(p, 0).mean():.3f})',
              linewidth=1.2)
  ax.set_xlabel('recall'), ax.set_ylabel('precision'), ax.set_title(title, fontsize=9)
  ax.set_xlim(0, 1), ax.set_ylim(0, 1.02)
  ax.legend(fontsize=6, loc='lower left')
  return save_png(fig, png_path)


def proposal_pictures(images: np.ndarray, proposals: dict, detections: dict, truth: dict,
                      class_names, path, evaluation: dict | None) -> dict:
  """A two-stage detector's pictures: proposals.png (class-less boxes, their score drawn),
  detections.png and, when the evaluation has them, pr_curves.png. `path(name)` gives each
  file's path; boxes dicts as `plot_detections` takes them. Returns {name: save_png result}."""
  pics = {'proposals': plot_detections(images, proposals, truth, [''], path('proposals.png')),
          'detections': plot_detections(images, detections, truth, class_names,
                                        path('detections.png'))}
  if evaluation is not None and 'pr_precision' in evaluation:
    pics['pr_curves'] = plot_pr_curves(evaluation['pr_recall'], evaluation['pr_precision'],
                                       class_names, path('pr_curves.png'))
  return pics
