"""Fixtures of the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cli.clitools import invoke, spawn
from maplecollect.sim import SimConfig, run_simulator_in_thread
from support.sim import SIM_NOW


@pytest.fixture(params=["clirunner", "subprocess"])
def cli(request: pytest.FixtureRequest, clean_env: None) -> Any:
    """Each test taking `cli` runs twice: in-process and as a real subprocess."""
    return invoke if request.param == "clirunner" else spawn


@pytest.fixture
def simulator() -> Iterator[str]:
    """A small simulator world on a pinned clock (2026-11-26 is available), in a thread."""
    config = SimConfig(seed=11, characters=120, now=SIM_NOW)
    with run_simulator_in_thread(config) as running:
        yield running.base_url
