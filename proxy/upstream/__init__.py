"""Talking to upstream registries: Bearer auth, manifests, blobs with resume."""
