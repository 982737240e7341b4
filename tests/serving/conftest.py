"""Fixtures shared by the serving tests: one tiny trained pipeline per module and a client on it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.serving.helpers import make_app, train_tiny


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny pipeline trained once per test module."""
    return train_tiny(tmp_path_factory.mktemp("pipe") / "v1")


@pytest.fixture
def client(model_dir, tmp_path):
    """A test client on a fresh app (its own event log) serving ``model_dir``."""
    with TestClient(make_app(model_dir, tmp_path)) as c:
        yield c
