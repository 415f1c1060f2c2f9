"""The API key never appears in exception text, repr, tracebacks, logs or metrics."""

import logging
import traceback

import pytest
from prometheus_client import REGISTRY, generate_latest

from maplecollect.errors import NexonApiError
from maplecollect.nexon import PausePolicy, RetryPolicy, Timeouts
from maplecollect.nexon.fingerprint import api_key_fingerprint

from .conftest import FAKE_KEY, ClientFactory, FakeNexon, nexon_error, reset_connection, slow

BASIC = "/maplestory/v1/character/basic"


async def test_the_api_key_never_leaks(
    fake_api: FakeNexon, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_api.script(
        BASIC,
        nexon_error("OPENAPI00003", 400),
        nexon_error("OPENAPI00005", 400),
        *[nexon_error("OPENAPI00001", 500)] * 3,
        *[reset_connection] * 6,
        *[slow(2.0)] * 3,
        nexon_error("OPENAPI00007", 429),
        *[nexon_error("OPENAPI00011", 503)] * 10,
    )
    client = make_client(
        retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002),
        timeouts=Timeouts(connect=1.0, read=0.1, total=1.0),
        pause=PausePolicy(pause_seconds=0.01, max_pause_seconds=0.03),
    )
    failures: list[NexonApiError] = []
    for _ in range(8):
        try:
            await client.character_basic("ocid-x", None)
        except NexonApiError as exc:
            failures.append(exc)
    refused = make_client(base_url="http://127.0.0.1:1")
    try:
        await refused.character_id("nobody")
    except NexonApiError as exc:
        failures.append(exc)
    assert {type(e).__name__ for e in failures} == {"RecordError", "RunFatalError"}
    assert len(failures) >= 6

    texts = [repr(client), repr(client.limiter), generate_latest(REGISTRY).decode()]
    for exc in failures:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts += [formatter.format(record) for record in caplog.records]
    assert any("pause" in t.lower() for t in texts[-len(caplog.records) :])  # logs were captured
    # Nothing derived from the key either: a hash prefix would confirm a guessed key.
    fingerprint = api_key_fingerprint(FAKE_KEY)
    for text in texts:
        assert FAKE_KEY not in text
        assert fingerprint not in text
        assert "x-nxopen-api-key" not in text.lower()
    assert 'key="default"' in texts[2]  # the configured key name labels the metrics
