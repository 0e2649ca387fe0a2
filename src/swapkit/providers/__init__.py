"""Built-in providers, one module per vendor, each registered as a plugin."""
