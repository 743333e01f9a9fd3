"""Self-tests of the Docker Hub stand-in in tests/fakes."""
