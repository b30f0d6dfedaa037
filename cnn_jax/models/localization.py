"""Classification with localization, and landmarks, as heads on any backbone (course §3).

    net = LocalizationNet(num_classes=10)                  # the small ConvBackbone below
    net = LocalizationNet(num_classes=10, backbone='mobilenet_v2')   # any registered model,
                                                           # headless (num_classes=None)
    out = net.apply(variables, x, train=False)             # x: [N, H, W, C] float32
    out['y']          # [N, 5 + n] raw: [p_c, bx, by, bh, bw, c1..cn] before activations
    out['landmarks']  # [N, 2 L] raw (num_landmarks = L > 0): (x1, y1, x2, y2, ...)

The course's target vector y = [p_c, bx, by, bh, bw, c1..cn]: p_c "is there an object",
(bx, by) the box centre and (bh, bw) its height and width, all as fractions of the image
(the top-left corner is (0, 0), the bottom-right (1, 1)), c1..cn the class indicators.
The network emits raw values; `ops.localization.decode` applies the activations every loss
and metric uses: p_c = sigmoid, box = sigmoid (so it stays in (0, 1)), classes = softmax;
landmarks = sigmoid (normalised (x / W, y / H) of each of the L points).

The head is `hidden` ReLU units after the backbone's features (flattened if the backbone
returns a feature map: a box regressor needs to know *where*, which global pooling blurs).
"""
from typing import Sequence

import flax.linen as nn
import jax


class ConvBackbone(nn.Module):
  """Small VGG-style backbone: per stage `convs` 3x3 conv-BN-ReLU (SAME) and a 2x2 max pool.
  [N, H, W, C] -> the last feature map flattened, [N, (H / 2^S) (W / 2^S) widths[-1]]."""
  widths: Sequence[int] = (16, 32, 64)
  convs: int = 2

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i, width in enumerate(self.widths):
      for j in range(self.convs):
        x = nn.Conv(width, (3, 3), use_bias=False, name=f'conv{i + 1}_{j + 1}')(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f'bn{i + 1}_{j + 1}')(x)
        x = nn.relu(x)
      x = nn.max_pool(x, (2, 2), (2, 2))
    return x.reshape(x.shape[0], -1)


class LocalizationNet(nn.Module):
  """A backbone + the localization head (5 + n outputs) and/or a landmark head (2 L).

  Attributes:
    num_classes: n, the classes c1..cn (0 with localize=False).
    num_landmarks: L points (0: no landmark head).
    localize: emit y = [p_c, bx, by, bh, bw, c1..cn].
    backbone: '' for ConvBackbone(widths), else a registry name built headless.
    widths, convs: ConvBackbone stage widths and convolutions per stage.
    hidden: units of the shared hidden layer (0: none).
    dropout: dropout rate before the outputs (training only).
  """
  num_classes: int = 10
  num_landmarks: int = 0
  localize: bool = True
  backbone: str = ''
  widths: Sequence[int] = (16, 32, 64)
  convs: int = 2
  hidden: int = 128
  dropout: float = 0.0

  def setup(self):
    if not self.localize and not self.num_landmarks:
      raise ValueError('LocalizationNet needs localize=True or num_landmarks > 0.')
    if self.backbone:
      from cnn_jax import models   # the registry (any model, headless: num_classes=None)
      self.features = models.create(self.backbone, num_classes=None)
    else:
      self.features = ConvBackbone(self.widths, self.convs)
    self.fc = nn.Dense(self.hidden) if self.hidden else None
    self.drop = nn.Dropout(self.dropout)
    if self.localize:
      self.y_head = nn.Dense(5 + self.num_classes)
    if self.num_landmarks:
      self.landmark_head = nn.Dense(2 * self.num_landmarks)

  def __call__(self, x: jax.Array, train: bool = False) -> dict:
    if x.ndim != 4:
      raise ValueError(f'LocalizationNet takes images [N, H, W, C]; got shape {x.shape}.')
    h = self.features(x, train=train)
    h = h.reshape(h.shape[0], -1)
    if self.fc is not None:
      h = nn.relu(self.fc(h))
    h = self.drop(h, deterministic=not train)
    out = {}
    if self.localize:
      out['y'] = self.y_head(h)
    if self.num_landmarks:
      out['landmarks'] = self.landmark_head(h)
    return out
