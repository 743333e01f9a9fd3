"""The pull-through policy: local first, fill from upstream, serve stale on failure."""
