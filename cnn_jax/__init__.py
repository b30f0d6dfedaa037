"""cnn_jax: a convolutional-networks course as a pure-functional JAX/Flax library.

    from cnn_jax import ops, models, losses, metrics

Layers, the task contract and conventions (NHWC, HWIO kernels, xyxy boxes, explicit keys):
docs/design.md in the repository. Importing cnn_jax picks XLA:CPU's convolution library
before JAX starts (`cnn_jax._xla_flags`: Eigen, measured faster on AVX2 CPUs;
$CNN_JAX_XLA_CPU_CONV=ynnpack keeps XLA's default) and keeps XLA:CPU's big buffers in the
heap between steps (`cnn_jax._malloc`: no page faults per step; $CNN_JAX_MALLOC=system keeps
the C library's defaults).
"""
from cnn_jax import _malloc, _xla_flags
from cnn_jax._lazy import submodule_getattr

_malloc.apply()
_xla_flags.apply()

__version__ = '0.1.0'
__getattr__ = submodule_getattr(__name__)
