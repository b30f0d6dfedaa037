"""Hand-made 3x3 filters and edge detection: what a conv layer's first filters learn.

The course's vertical-edge filter, applied by cross-correlation (as conv layers do), responds
to a bright-left / dark-right step; its transpose finds horizontal edges:

    VERTICAL = [[1, 0, -1],      HORIZONTAL = [[ 1,  1,  1],
                [1, 0, -1],                    [ 0,  0,  0],
                [1, 0, -1]]                    [-1, -1, -1]]

Sobel and Scharr weight the centre row more (2 and 10/3) and estimate the image gradient;
here they are written as derivatives (positive where intensity increases along +x / +y, with
y pointing down the rows):  gx = x * SOBEL_X,  gy = x * SOBEL_Y,

    magnitude = sqrt(gx^2 + gy^2),   direction = atan2(gy, gx)   (radians, in (-pi, pi])
"""
import jax
import jax.numpy as jnp
import numpy as np

from cnn_jax.ops import conv as conv_ops
from cnn_jax.ops.padding import Padding

VERTICAL = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], np.float32)
HORIZONTAL = VERTICAL.T.copy()
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32)
SOBEL_Y = SOBEL_X.T.copy()
SCHARR_X = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], np.float32)
SCHARR_Y = SCHARR_X.T.copy()
# Derivative pairs by name; normalised so a unit step gives a unit response.
# (As skimage: a 0 -> 1 step reads 1 on both pixels beside it.)
OPERATORS = {'sobel': (SOBEL_X / 4, SOBEL_Y / 4), 'scharr': (SCHARR_X / 16, SCHARR_Y / 16),
             'course': (-VERTICAL / 3, -HORIZONTAL / 3)}

# ITU-R 601 luma weights (as skimage.color.rgb2gray): gray = 0.2125 R + 0.7154 G + 0.0721 B.
_LUMA = np.array([0.2125, 0.7154, 0.0721], np.float32)


def to_gray(image: jax.Array) -> jax.Array:
  """`[..., H, W, 3]` RGB -> `[..., H, W]` luma; `[..., H, W]` is returned unchanged."""
  if image.ndim >= 3 and image.shape[-1] == 3:
    return image @ jnp.asarray(_LUMA, image.dtype)
  return image


def filter2d(image: jax.Array, kernel: jax.Array, padding: Padding = 'SAME',
             impl: str = 'xla') -> jax.Array:
  """Cross-correlates every channel of an image with one 2-D kernel (a depthwise conv).

  y[i, j] = sum_{a, b} x_pad[i + a, j + b] kernel[a, b]     (no flip, as conv layers)

  Args:
    image: `[H, W]`, `[H, W, C]` or `[N, H, W, C]`.
    kernel: `[f_h, f_w]`.
    padding: 'SAME' (zero padding, output size = input size), 'VALID', ... (`ops.padding`).
    impl: conv formulation (`ops.conv.IMPLS`).
  Returns:
    The same layout as `image`, with spatial size n_out = floor((n + 2p - f) / 1) + 1.
  """
  kernel = jnp.asarray(kernel, jnp.result_type(image.dtype, jnp.float32))
  x = jnp.asarray(image, kernel.dtype)
  squeeze_c, squeeze_n = x.ndim == 2, x.ndim <= 3
  if squeeze_c:
    x = x[..., None]
  if squeeze_n:
    x = x[None]
  c = x.shape[-1]
  w = jnp.broadcast_to(kernel[:, :, None, None], (*kernel.shape, 1, c))   # one per channel
  y = conv_ops.conv(x, w, padding=padding, groups=c, impl=impl)
  if squeeze_n:
    y = y[0]
  return y[..., 0] if squeeze_c else y


def gradients(image: jax.Array, operator: str = 'sobel') -> tuple[jax.Array, jax.Array]:
  """(gx, gy) of a grayscale (or RGB, converted) image with a derivative pair.

  Args: image `[..., H, W]` or `[..., H, W, 3]`; operator 'sobel' | 'scharr' | 'course'.
  Returns: two `[..., H, W]` arrays (edge padding, so a flat image has zero gradient).
  """
  if operator not in OPERATORS:
    raise ValueError(f'Unknown edge operator {operator!r}; choose one of {sorted(OPERATORS)}.')
  gray = to_gray(jnp.asarray(image, jnp.float32))
  kx, ky = OPERATORS[operator]
  # Replicate the border so the image frame does not read as an edge.
  padded = jnp.pad(gray, [(0, 0)] * (gray.ndim - 2) + [(1, 1), (1, 1)], mode='edge')
  flat = padded.reshape(-1, *padded.shape[-2:], 1)
  gx = filter2d(flat, kx, padding='VALID')[..., 0]
  gy = filter2d(flat, ky, padding='VALID')[..., 0]
  shape = gray.shape
  return gx.reshape(shape), gy.reshape(shape)


def edge_map(image: jax.Array, operator: str = 'sobel') -> tuple[jax.Array, jax.Array]:
  """Gradient magnitude and direction: sqrt(gx^2 + gy^2) and atan2(gy, gx).

  Args: image `[..., H, W]` gray or `[..., H, W, 3]` RGB in [0, 1]; operator as `gradients`.
  Returns: (magnitude, direction), each `[..., H, W]`; direction in radians, 0 = intensity
    rising to the right, pi/2 = rising downwards.
  """
  gx, gy = gradients(image, operator)
  return jnp.sqrt(gx * gx + gy * gy), jnp.arctan2(gy, gx)
