"""Shared fixtures: real kura servers on 127.0.0.1, and required external tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """The path of a tool a test needs. Missing: a failure under CI=true, else a skip."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make test installs it when run as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
