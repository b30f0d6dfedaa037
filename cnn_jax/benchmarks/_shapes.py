"""Workload shapes for the conv and pool suites, as plain data (no jax import).

Kept import-free so the PyTorch reference timer (`benchmarks/torch_reference.py`, run in a
throwaway torch venv) times exactly the same workloads under the same names.

A conv workload: (name, N, spatial, C_in, kernel, C_out, strides, padding, groups).
A pool workload: (name, N, spatial, C, window, strides, padding, kind).
Padding is per spatial dim as (lo, hi) pairs so both frameworks read it the same way.
"""

CONV = [
    # LeNet-5's two convs, batch 256 (5x5 valid).
    ('lenet5 conv1 32x32 1->6 5x5', 256, (32, 32), 1, (5, 5), 6, (1, 1), ((0, 0), (0, 0)), 1),
    ('lenet5 conv2 14x14 6->16 5x5', 256, (14, 14), 6, (5, 5), 16, (1, 1), ((0, 0), (0, 0)), 1),
    # ResNet-18 (CIFAR layout) 3x3 stage convs at 32x32 input, batch 64.
    ('resnet18 s1 32x32 64->64 3x3', 64, (32, 32), 64, (3, 3), 64, (1, 1), ((1, 1), (1, 1)), 1),
    ('resnet18 s2 16x16 128->128 3x3', 64, (16, 16), 128, (3, 3), 128, (1, 1), ((1, 1), (1, 1)), 1),
    ('resnet18 s3 8x8 256->256 3x3', 64, (8, 8), 256, (3, 3), 256, (1, 1), ((1, 1), (1, 1)), 1),
    ('resnet18 s4 4x4 512->512 3x3', 64, (4, 4), 512, (3, 3), 512, (1, 1), ((1, 1), (1, 1)), 1),
    # MobileNet: depthwise 3x3 at 112x112 (32 channels) and a 1x1 pointwise.
    ('mobilenet dw 112x112 32 3x3', 16, (112, 112), 32, (3, 3), 32, (1, 1), ((1, 1), (1, 1)), 32),
    ('pointwise 56x56 128->128 1x1', 16, (56, 56), 128, (1, 1), 128, (1, 1), ((0, 0), (0, 0)), 1),
    # A 3-D conv over volumes.
    ('conv3d 16x32x32 16->32 3x3x3', 4, (16, 32, 32), 16, (3, 3, 3), 32, (1, 1, 1),
     ((1, 1), (1, 1), (1, 1)), 1),
]

CONV_SMOKE = [
    ('smoke 2d 8x8 4->8 3x3', 2, (8, 8), 4, (3, 3), 8, (1, 1), ((1, 1), (1, 1)), 1),
    ('smoke dw 8x8 4 3x3 s2', 2, (8, 8), 4, (3, 3), 4, (2, 2), ((1, 1), (1, 1)), 4),
]

POOL = [
    ('lenet5 pool1 28x28x6 2x2/2', 256, (28, 28), 6, (2, 2), (2, 2), ((0, 0), (0, 0)), 'max'),
    ('resnet stem 112x112x64 3x3/2', 16, (112, 112), 64, (3, 3), (2, 2), ((1, 1), (1, 1)), 'max'),
    ('avg 32x32x64 3x3/1 pad', 64, (32, 32), 64, (3, 3), (1, 1), ((1, 1), (1, 1)), 'avg'),
    ('global avg 7x7x512', 64, (7, 7), 512, (7, 7), (1, 1), ((0, 0), (0, 0)), 'avg'),
    ('max3d 16x32x32x16 2x2x2/2', 4, (16, 32, 32), 16, (2, 2, 2), (2, 2, 2),
     ((0, 0), (0, 0), (0, 0)), 'max'),
]

POOL_SMOKE = [
    ('smoke max 8x8x4 2x2/2', 2, (8, 8), 4, (2, 2), (2, 2), ((0, 0), (0, 0)), 'max'),
]


def conv_flops(n, spatial, c_in, kernel, c_out, strides, padding, groups) -> float:
  """Forward multiply-adds x 2: 2 N prod(out) prod(k) (C_in / groups) C_out."""
  out = 1
  for size, f, s, (lo, hi) in zip(spatial, kernel, strides, padding):
    out *= (size + lo + hi - f) // s + 1
  taps = 1
  for f in kernel:
    taps *= f
  return 2.0 * n * out * taps * (c_in // groups) * c_out
