"""Built-in plugins, each registered under its upstream type name by ``default_registry()``."""
