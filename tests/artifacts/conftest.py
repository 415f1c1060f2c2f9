"""Fixtures for the artifact tests: a local store (tmp_path) and a memory:// store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from maplecollect.artifacts import Store, open_store


@pytest.fixture
def local_store(tmp_path) -> Store:
    return open_store(str(tmp_path / "store"))


@pytest.fixture
def memory_store() -> Iterator[Store]:
    # memory:// is one process-wide filesystem: give each test its own root.
    store = open_store(f"memory://t-{uuid.uuid4().hex}")
    yield store
    if store.fs.exists(store.root):
        store.fs.rm(store.root, recursive=True)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "local":
        yield open_store(str(tmp_path / "store"))
        return
    store = open_store(f"memory://t-{uuid.uuid4().hex}")
    yield store
    if store.fs.exists(store.root):
        store.fs.rm(store.root, recursive=True)
