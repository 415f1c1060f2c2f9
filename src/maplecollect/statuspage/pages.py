"""HTML of the status page: `/` (phases, days), `/runs/{id}` (one run), login and logout.

Jinja2 with autoescaping (names are shown as text, never as markup); `static/app.js`
polls the JSON routes. The Content-Security-Policy lets a page load from this origin only.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maplecollect import __version__
from maplecollect.api import auth
from maplecollect.api.deps import RepoDep, RunIdDep, SettingsDep
from maplecollect.artifacts import layout
from maplecollect.errors import StoreError
from maplecollect.phases import Phase
from maplecollect.statuspage import files
from maplecollect.statuspage.api import page_store
from maplecollect.statuspage.overview import DAYS, dump_run, overview

if TYPE_CHECKING:
    from jinja2 import Environment

router = APIRouter(include_in_schema=False)
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
_MAX_LOGIN_BODY = 4096  # a token form is tiny; never read more

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def templates() -> Environment:
    # Jinja2 loads with the first page, not with the service (docs/performance.md).
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["count"] = lambda n: "-" if n is None else f"{int(n):,}"
    return env


def _env(request: Request) -> Environment:
    env: Environment | None = getattr(request.app.state, "templates", None)
    if env is None:
        env = request.app.state.templates = templates()
    return env


def _html(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = _env(request).get_template(name).render(version=__version__, **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _login(request: Request, message: str | None = None, status: int = 200) -> HTMLResponse:
    return _html(request, "login.html", status=status, message=message)


def _csrf(settings: Any, session: str) -> str:
    token = settings.api_token_value()
    return auth.csrf_token(token, session) if token and session else ""


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, repo: RepoDep, settings: SettingsDep) -> Response:
    session = auth.page_session(request, settings)
    if session is None:
        return _login(request)
    data = await overview(repo, settings)
    return _html(
        request,
        "index.html",
        data=data,
        csrf=_csrf(settings, session),
        login=bool(settings.api_token_value()),
        days=DAYS,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(
    run_id: RunIdDep, request: Request, repo: RepoDep, settings: SettingsDep
) -> Response:
    session = auth.page_session(request, settings)
    if session is None:
        return _login(request)
    row = await repo.get_run(run_id)
    if row is None:
        return _html(request, "missing.html", status=404, run_id=run_id)
    run = dump_run(row)
    chunks = await repo.list_chunks(run_id)
    endpoint = Phase(row.phase).endpoint
    store = page_store(request)
    manifest: dict[str, Any] | None = None
    with contextlib.suppress(StoreError, orjson.JSONDecodeError):
        parsed = orjson.loads(await store.read_bytes(layout.manifest_path(run_id, endpoint)))
        manifest = parsed if isinstance(parsed, dict) else None
    failures = await asyncio.to_thread(files.failure_samples, store, chunks)
    base = f"/api/internal/runs/{run_id}/files/{endpoint}"
    parts = [
        {
            "part": c.part,
            "records": c.records,
            "failed": c.failed,
            "sha256": c.sha256,
            "href": f"{base}/{layout.CHUNKS}/{posixpath.basename(c.path)}",
            "name": posixpath.basename(c.path),
            "failedHref": f"{base}/{layout.FAILED}/{posixpath.basename(c.failed_path)}"
            if c.failed_path
            else None,
            "failedSha256": c.failed_sha256,
            "compressedBytes": c.compressed_bytes,
        }
        for c in chunks
        if c.endpoint == endpoint
    ]
    by_code = run.get("failuresByCode") if run else None
    return _html(
        request,
        "run.html",
        run=run,
        parts=parts,
        manifest=manifest,
        manifest_href=f"{base}/{layout.MANIFEST}" if manifest is not None else None,
        failures=failures,
        failures_by_code=by_code if isinstance(by_code, dict) else None,
        timeline=_timeline(run),
        csrf=_csrf(settings, session),
        login=bool(settings.api_token_value()),
        rate_limit=settings.rate_limit,
    )


def _timeline(run: dict[str, Any] | None) -> list[dict[str, str]]:
    """What the run row itself tells; the page adds pauses seen by the sampler."""
    if not run:
        return []
    events = [{"t": run["startedAt"], "text": "started"}]
    if run.get("resumeCount"):
        events.append({"t": run["updatedAt"], "text": f"resumed {run['resumeCount']} time(s)"})
    pause = run.get("pause")
    if isinstance(pause, dict) and pause.get("since"):
        events.append({"t": str(pause["since"]), "text": f"paused: {pause.get('code')}"})
    if run.get("completedAt"):
        events.append({"t": run["completedAt"], "text": f"finished {run['status']}"})
    return events


@router.post("/login")
async def login(request: Request, settings: SettingsDep) -> Response:
    """The form posts the token; a right one gets the session cookie (never the token)."""
    token = settings.api_token_value()
    if not token:
        return RedirectResponse("/", status_code=303)
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > _MAX_LOGIN_BODY:
            return _login(request, "the login form is too large", status=413)
    given = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
    if not auth.bearer_ok(token, f"Bearer {given}"):
        return _login(request, "wrong token", status=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        auth.SESSION_COOKIE,
        auth.new_session(token),
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
