"""Connection -> Endpoint: JSON and URI forms, scheme/port/prefix rules, extras."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from maplecollect.airflow.connection import endpoint_from_connection
from maplecollect.airflow.hook import ExtApiHook
from maplecollect.client.endpoint import Endpoint
from maplecollect.errors import ConfigError


def _ep(**fields):
    base = {
        "conn_type": "maplecollect",
        "host": "h",
        "port": None,
        "schema": None,
        "password": None,
    }
    extras = fields.pop("extras", {})
    return endpoint_from_connection(SimpleNamespace(**{**base, **fields}), extras)


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        ({"host": "127.0.0.1", "port": 8081}, "http://127.0.0.1:8081"),
        ({"host": "svc", "port": 443, "schema": "https"}, "https://svc:443"),
        ({"conn_type": "https", "host": "svc"}, "https://svc"),
        ({"host": "http://svc:9000", "port": 1}, "http://svc:9000"),
        ({"host": "https://svc/base/"}, "https://svc/base"),
        ({"host": "svc", "port": 80, "schema": "maple"}, "http://svc:80/maple"),
        ({"host": "svc", "extras": {"scheme": "https"}}, "https://svc"),
    ],
)
def test_base_url(fields, url):
    assert _ep(**fields).base_url == url


def test_extras_are_coerced_from_strings_uri_form():
    ep = _ep(extras={"timeout": "5", "retries": "0", "verify": "false", "backoff": "0.5"})
    assert (ep.timeout, ep.retries, ep.verify, ep.backoff) == (5.0, 0, False, 0.5)


@pytest.mark.parametrize(
    "extras", [{"timeout": "abc"}, {"retries": -1}, {"verify": "maybe"}, {"timeout": 0}]
)
def test_bad_extras_raise_config_error(extras):
    with pytest.raises(ConfigError):
        _ep(extras=extras)


def test_missing_host_is_a_config_error():
    with pytest.raises(ConfigError, match="no host"):
        _ep(host="")


def test_token_not_in_repr():
    ep = Endpoint("http://x", token="sekrit-token")
    assert "sekrit" not in repr(ep)


def test_retry_delay_is_exponential_and_capped():
    ep = Endpoint("http://x", backoff=1.0, backoff_max=5.0)
    assert [ep.retry_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


def test_env_connection_json_form(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXTERNAL_API",
        '{"conn_type": "maplecollect", "host": "10.0.0.5", "port": 8081, '
        '"password": "json-token-123", "extra": {"timeout": 12, "retries": 4}}',
    )
    ep = ExtApiHook().endpoint()
    assert (ep.base_url, ep.token, ep.timeout, ep.retries) == (
        "http://10.0.0.5:8081",
        "json-token-123",
        12.0,
        4,
    )


def test_env_connection_uri_form(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_EXTERNAL_API",
        "maplecollect://:uri%2Ftoken-99@svc.internal:8443/https?retries=1",
    )
    ep = ExtApiHook().endpoint()
    assert (ep.base_url, ep.token, ep.retries) == ("https://svc.internal:8443", "uri/token-99", 1)


def test_env_connection_http_type(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EXTERNAL_API", "http://127.0.0.1:8081")
    ep = ExtApiHook().endpoint()
    assert (ep.base_url, ep.token) == ("http://127.0.0.1:8081", None)


async def test_async_endpoint_reads_the_same_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_EXTERNAL_API", "maplecollect://:tok-abcdef@svc:8081")
    ep = await ExtApiHook().aendpoint()
    assert (ep.base_url, ep.token) == ("http://svc:8081", "tok-abcdef")
