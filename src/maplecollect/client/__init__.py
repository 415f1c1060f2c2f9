"""The one client of the control API (docs/control-api.md, "Client").

`calls`, `endpoint` and `waiting` are pure; `sync` (ControlClient) and `aio`
(AsyncControlClient, the Airflow triggerer) only send, and load httpx.
"""
