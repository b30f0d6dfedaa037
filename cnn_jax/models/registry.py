"""The model registry: one line per architecture, name -> (module path, class, fixed kwargs).

Entries are strings so that listing names imports nothing; `create` imports the one family
it needs. A new architecture adds its file in `models/` and its line(s) here.
"""
MODELS: dict[str, tuple[str, str, dict]] = {
    'lenet5': ('cnn_jax.models.lenet', 'LeNet5', {}),
}
