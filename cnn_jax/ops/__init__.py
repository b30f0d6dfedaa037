"""cnn_jax.ops: what this layer holds and may import: docs/design.md (Layers).

Submodules load on first use.
"""
from cnn_jax._lazy import submodule_getattr

__getattr__ = submodule_getattr(__name__)
