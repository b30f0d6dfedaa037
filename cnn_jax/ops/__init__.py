"""cnn_jax.ops: see ../shared/DESIGN.md for what this layer holds. Submodules load on first use."""
from cnn_jax._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
