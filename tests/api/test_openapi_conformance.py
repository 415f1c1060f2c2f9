"""The served /openapi.json is exact: schemathesis against the real app (docs/control-api.md).

The real service (uvicorn on 127.0.0.1, SQLite in a temporary folder, the bearer
token set) runs with fast fake phase runners that never reach Nexon. Schemathesis
reads the document the service serves and sends schema-valid and schema-invalid
requests to every operation, with every check on: no 5xx, only documented status
codes and content types, every body valid against its documented schema,
invalid input rejected, the token enforced.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from maplecollect.api.app import create_app
from support.fake_phases import walkers
from support.service import fast_settings, serve

TOKEN = "conformance-token"
# Examples per operation and generation mode: bounded so the whole test stays well
# under a minute of CPU (about 20 operations).
MAX_EXAMPLES = 25

# A schema-valid request the service refuses with 400 on purpose: a day outside the
# data (before 2023-12-21 or after today KST), a non-root trigger without
# X-Upstream-Run-Id, an upstream id that is not a run id. The document cannot say
# "a day in this range" or "required for these path values", so a 400 for valid-looking
# data is expected here, beside schemathesis's default 2xx/3xx/401/403/404/409/429.
POSITIVE_EXPECTED = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]


class _ServiceThread:
    """The service on its own event loop in a thread (schemathesis calls are blocking)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="conformance-service")

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the test thread by start()
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings_ = fast_settings(self.tmp_path, api_token=TOKEN)
        async with serve(settings_, walkers()) as running:
            self.url = running.url
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> _ServiceThread:
        self._thread.start()
        if not self._ready.wait(60):
            raise TimeoutError("the service did not start within 60 s")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_ServiceThread]:
    with _ServiceThread(tmp_path_factory.mktemp("conformance")) as running:
        yield running


def _document() -> dict[str, Any]:
    """The document the service serves (the same app object builds it without starting;
    test_the_served_document_is_the_one_tested checks it against GET /openapi.json)."""
    app = create_app(fast_settings(Path("unused"), api_token=TOKEN), runners=walkers())
    return app.openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(
    DOCUMENT,
    config=SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "generation": {"max-examples": MAX_EXAMPLES},
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED}},
        }
    ),
)


def test_the_served_document_is_the_one_tested(service: _ServiceThread) -> None:
    served = httpx.get(f"{service.url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    # Validation errors are 400 INVALID_REQUEST: nothing advertises FastAPI's 422.
    for operations in DOCUMENT["paths"].values():
        for operation in operations.values():
            assert "422" not in operation["responses"]


def _short_long_poll(case: Any) -> None:
    # GET /events long-polls up to `timeout` seconds when no event is new: a valid
    # value, but waiting it out would only make the test slow. 0 is as valid.
    query = case.query
    if case.path.endswith("/events") and isinstance(query, dict):
        value = query.get("timeout")
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 25:
            query["timeout"] = 0


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_service_answers_as_its_openapi_document_says(
    case: Any, service: _ServiceThread
) -> None:
    _short_long_poll(case)
    case.call_and_validate(
        base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
