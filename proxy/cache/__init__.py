"""The local store: content-addressed files plus a sqlite index."""
