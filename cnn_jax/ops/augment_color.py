"""Photometric augmentations of one image `[H, W, C]` in [0, 1] (pure jax.numpy).

Every function is `op(key, image, **params) -> image` (boxes are unaffected), keeps values in
[0, 1] (clipped), and works under `jit` and `vmap` over a batch.

  color        brightness / contrast / saturation / hue jitter (torchvision's ColorJitter
               factors, applied in that fixed order; hue as a rotation of the YIQ chroma plane)
  color_shift  the course's "color shifting": add an independent offset to each channel
  pca_lighting AlexNet's PCA colour augmentation (Krizhevsky et al. 2012, sec. 4.1)

PCA colour augmentation: with p_i, lambda_i the eigenvectors / eigenvalues of the 3x3
covariance of RGB pixel values over the training set, every pixel of one image gets the
same shift

    delta = [p_1 p_2 p_3] [alpha_1 lambda_1, alpha_2 lambda_2, alpha_3 lambda_3]^T,
    alpha_i ~ N(0, std^2) drawn once per image (std 0.1 in the paper),

so the shift lies along the principal components, scaled by their eigenvalues, and is zero
in expectation (the data mean is preserved). `IMAGENET_EIGVAL` / `IMAGENET_EIGVEC` are the
published ImageNet constants for [0, 1] RGB (fb.resnet.torch, also used by timm/GluonCV);
`pca_from_images` computes them from a dataset.
"""
import jax
import jax.numpy as jnp
import numpy as np

# ImageNet RGB covariance eigen-decomposition for pixels in [0, 1]; eigenvectors are COLUMNS.
IMAGENET_EIGVAL = (0.2175, 0.0188, 0.0045)
IMAGENET_EIGVEC = ((-0.5675, 0.7192, 0.4009),
                   (-0.5808, -0.0045, -0.8140),
                   (-0.5836, -0.6948, 0.4203))
GRAY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma (torchvision's rgb_to_grayscale)
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_INV = np.linalg.inv(_YIQ)


def _factor(key, amount: float) -> jax.Array:
  """U[max(0, 1 - amount), 1 + amount] (torchvision's jitter factor)."""
  return jax.random.uniform(key, (), jnp.float32, max(0.0, 1.0 - amount), 1.0 + amount)


def _gray(image) -> jax.Array:
  """`[H, W, 3]` -> `[H, W, 1]` luma; a 1-channel image is its own gray."""
  if image.shape[-1] == 1:
    return image
  return (image[..., :3] @ jnp.asarray(GRAY, image.dtype))[..., None]


def _blend(image, other, factor):
  """factor * image + (1 - factor) * other, clipped to [0, 1]."""
  return jnp.clip(factor * image + (1.0 - factor) * other, 0.0, 1.0)


def hue_matrix(turns) -> jax.Array:
  """`[3, 3]` RGB -> RGB hue rotation by `turns` of a full circle: YIQ, rotate (I, Q),
  back. Luma Y is unchanged; turns = 0.5 maps a colour to its opposite hue."""
  angle = 2 * jnp.pi * jnp.asarray(turns, jnp.float32)
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  rot = jnp.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
  return jnp.asarray(_YIQ_INV, jnp.float32) @ rot @ jnp.asarray(_YIQ, jnp.float32)


def color(key, image, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2,
          hue: float = 0.0):
  """ColorJitter. With factors b, c, s ~ U[max(0, 1 - v), 1 + v] and h ~ U[-hue, hue]:

      brightness: x * b
      contrast:   c x + (1 - c) mean(gray(x))      (one scalar per image)
      saturation: s x + (1 - s) gray(x)            (per pixel; RGB only)
      hue:        x @ hue_matrix(h)^T              (h in turns, |h| <= 0.5; RGB only)

  each followed by clipping to [0, 1]. A zero amount skips that step (defaults 0.2, 0.2,
  0.2, 0: a bare `color` step in a spec jitters brightness, contrast and saturation).
  """
  kb, kc, ks, kh = jax.random.split(key, 4)
  rgb = image.shape[-1] == 3
  if brightness:
    image = jnp.clip(image * _factor(kb, brightness), 0.0, 1.0)
  if contrast:
    image = _blend(image, jnp.mean(_gray(image)), _factor(kc, contrast))
  if saturation and rgb:
    image = _blend(image, _gray(image), _factor(ks, saturation))
  if hue and rgb:
    turns = jax.random.uniform(kh, (), jnp.float32, -hue, hue)
    image = jnp.clip(image @ hue_matrix(turns).T.astype(image.dtype), 0.0, 1.0)
  return image


def color_shift(key, image, delta: float = 0.1):
  """Adds an offset ~ U[-delta, delta] to each channel (the same over the image), clips."""
  shift = jax.random.uniform(key, (image.shape[-1],), jnp.float32, -delta, delta)
  return jnp.clip(image + shift.astype(image.dtype), 0.0, 1.0)


def pca_shift(key, eigvals, eigvecs, std: float = 0.1) -> jax.Array:
  """The PCA lighting offset `[C]`: eigvecs @ (alpha * eigvals), alpha ~ N(0, std^2)."""
  eigvals = jnp.asarray(eigvals, jnp.float32)
  alpha = std * jax.random.normal(key, eigvals.shape, jnp.float32)
  return jnp.asarray(eigvecs, jnp.float32) @ (alpha * eigvals)


def pca_lighting(key, image, std: float = 0.1, eigvals=IMAGENET_EIGVAL, eigvecs=IMAGENET_EIGVEC,
                 clip: bool = True):
  """AlexNet's PCA colour augmentation (module doc): image + pca_shift, clipped if `clip`.

  eigvals `[C]`, eigvecs `[C, C]` (eigenvectors as columns): ImageNet's by default, or
  `pca_from_images(train_images)`.
  """
  if np.shape(eigvecs) != (image.shape[-1], image.shape[-1]):
    raise ValueError(f'pca_lighting: eigvecs {np.shape(eigvecs)} do not fit {image.shape[-1]} '
                     'channels; compute them with pca_from_images(train_images).')
  out = image + pca_shift(key, eigvals, eigvecs, std).astype(image.dtype)
  return jnp.clip(out, 0.0, 1.0) if clip else out


def pca_from_images(images) -> tuple[jax.Array, jax.Array]:
  """Eigen-decomposition of the channel covariance over all pixels of `images` `[..., C]`:

      Sigma = E[(x - mu)(x - mu)^T] (over every pixel), Sigma p_i = lambda_i p_i

  Returns (eigvals `[C]` descending, eigvecs `[C, C]` with p_i as column i, sign fixed so
  each column sums to <= 0 like the ImageNet constants).
  """
  pixels = jnp.asarray(images, jnp.float32).reshape(-1, jnp.shape(images)[-1])
  centred = pixels - pixels.mean(0)
  cov = centred.T @ centred / pixels.shape[0]
  eigvals, eigvecs = jnp.linalg.eigh(cov)
  eigvals, eigvecs = eigvals[::-1], eigvecs[:, ::-1]
  sign = jnp.where(eigvecs.sum(0) > 0, -1.0, 1.0)
  return eigvals, eigvecs * sign
