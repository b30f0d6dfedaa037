"""The confusion plot stays cheap and informative at ImageNet's 1,000 classes."""
import os

import numpy as np

from cnn_jax.viz import classification


def test_most_frequent_confusions_ranks_off_diagonal_cells():
  m = np.diag([50, 40, 30, 20])
  m[0, 2] = 7
  m[3, 1] = 9
  m[1, 0] = 7
  # Diagonal cells (the correct predictions) never count; ties keep row-major order.
  assert classification.most_frequent_confusions(m, 3) == [(3, 1, 9), (0, 2, 7), (1, 0, 7)]
  assert classification.most_frequent_confusions(np.eye(3), 5) == []


def test_plot_confusion_with_1000_classes_writes_a_png(tmp_path):
  k = 1000
  rng = np.random.default_rng(0)
  m = np.diag(rng.integers(1, 50, k))
  m[5, 17] = 99
  path = str(tmp_path / 'confusion.png')
  png, height, width = classification.plot_confusion(m, [f'c{i}' for i in range(k)], path)
  # A fixed-size figure, not one that grows with K (0.55 inch per class would be 550 inches).
  assert os.path.getsize(path) == len(png) and width < 2000 and height < 1500
  assert classification.most_frequent_confusions(m, 1) == [(5, 17, 99)]
