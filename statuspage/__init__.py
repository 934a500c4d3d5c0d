"""A public status page and incident-response toolkit."""

__version__ = "0.1.0"
