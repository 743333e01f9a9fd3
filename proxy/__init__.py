"""kura (蔵): a pull-through caching registry mirror for Docker Hub."""

__version__ = "0.1.0"
