"""cnn_jax: a convolutional-networks course as a pure-functional JAX/Flax library.

    from cnn_jax import ops, models, losses, metrics

Layers, the task contract and conventions (NHWC, HWIO kernels, xyxy boxes, explicit keys):
docs/design.md in the repository.
"""
from cnn_jax._lazy import submodule_getattr

__version__ = '0.1.0'
__getattr__ = submodule_getattr(__name__)
