"""The one client of the control API (docs/control-api.md, "Client").

    calls      every route as a `Call`: request to send, answer rules (pure)
    endpoint   base URL, token, timeouts, retry rule, token scrubbing (pure)
    waiting    the wait verbs' rules: run, chain, idle phase; patience (pure)
    sync       ControlClient: the CLI, `smoke`, `demo`, Airflow workers
    aio        AsyncControlClient: the Airflow triggerer
    errors     ControlApiError -> Unavailable, Refused -> Conflict, ProtocolError, WaitFailed

Request and response bodies are the models of `maplecollect.contract`, shared
with the server. Import `sync` / `aio` for the clients (they load httpx).
"""
