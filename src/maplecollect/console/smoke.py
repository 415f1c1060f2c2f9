"""`maplecollect smoke`: the post-deploy check of a running installation (README).

Steps: health, trigger, loop, stop-loop, idle-stop, then airflow-* given
--airflow-url (docs/operations.md). The first failure names its step and exits 1
after cleaning up what the check started; a run paused by the API fails at once
instead of waiting out the timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from maplecollect.client.errors import ControlApiError, WaitFailed
from maplecollect.console import options
from maplecollect.console.client import check_url, cli_error, connect, describe
from maplecollect.console.errors import CliError, usage_error
from maplecollect.console.follow import INTERRUPTED_SECONDS, outage_lines
from maplecollect.console.render import console, pause_text
from maplecollect.phases import Phase

if TYPE_CHECKING:  # imported when smoke runs: `maplecollect --help` need not load httpx
    import httpx

    from maplecollect.client.sync import ControlClient
    from maplecollect.client.waiting import Target
    from maplecollect.contract import RunPublic, RunStatusPublic

DAG_ID = "daily_collection_pipeline"
D = TypeVar("D")


class StepFailed(Exception):
    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason


def _nothing(_document: Any) -> None:
    return None


@dataclass
class Smoke:
    api: ControlClient
    timeout: float
    say: Callable[[str], None]
    poll: float = 0.5
    date: str | None = None  # the snapshot date of the trigger and the loop (None: defaults)
    started_runs: dict[str, str] = field(default_factory=dict)  # phase -> runId
    started_loops: dict[str, str] = field(default_factory=dict)  # phase -> loopId

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        try:
            yield
        except StepFailed:
            raise
        except CliError as exc:
            raise StepFailed(name, exc.message) from None
        except ControlApiError as exc:
            raise StepFailed(name, cli_error(exc).message) from None
        except Exception as exc:
            raise StepFailed(name, f"{type(exc).__name__}: {exc}") from None

    def begin(self, step: str, doing: str) -> None:
        """Say what a step does before it does it (a wait is never silent)."""
        self.say(f"...  {step}: {doing}")

    def wait(self, step: str, target: Target[D], check: Callable[[D], None] = _nothing) -> D:
        """The client's wait up to `timeout`, `check`ing every document; outage lines prefixed."""
        from maplecollect.client.waiting import Patience

        self.say(f"...  {step}: waiting up to {self.timeout:g} s for {target.what}")
        patience = Patience(
            timeout=self.timeout,
            poll=self.poll,
            interrupted=min(self.timeout, INTERRUPTED_SECONDS),
        )
        say = outage_lines(lambda line: self.say(f"...  {step}: {line}"))
        try:
            return self.api.wait(target, patience, on_poll=check, **say)
        except WaitFailed as exc:
            if not exc.timed_out:
                raise
            raise StepFailed(
                step, f"{target.what} did not happen within {self.timeout:g} s"
            ) from None

    def _unpaused(self, step: str, run: RunPublic) -> None:
        """A paused run fails the step at once (the pause may last hours)."""
        paused = pause_text(run.wire())
        if paused:
            raise StepFailed(
                step,
                f"run {run.run_id} is {paused} (snapshot {run.snapshot_date}; "
                "pass --date for a day the API has data for)",
            )

    # -- steps -------------------------------------------------------------------

    def health(self) -> None:
        with self.step("health"):
            self.begin("health", f"GET {self.api.url}/health")
            health = self.api.health()
            if health.status != "UP":
                raise StepFailed("health", f"service is {health.status}: {health.wire()}")
            self.say(f"ok   health: UP, version {health.version}, api {health.api_version}")

    def trigger(self, phase: str) -> None:
        from maplecollect.client.waiting import run_target

        step = f"trigger {phase}"
        with self.step(step):
            self.begin(step, f"starting {phase} (date {self.date or 'default'})")
            started = self.api.trigger_phase(Phase(phase), date=self.date)
            if started.followed:
                raise StepFailed(step, f"not started: {describe(409, started.body)}")
            run_id = started.run_id
            self.started_runs[phase] = run_id
            self.begin(step, f"run {run_id} started for {started.snapshot_date}")
            target = run_target(run_id)
            run = self.wait(step, target, lambda run: self._unpaused(step, run))
            self.started_runs.pop(phase, None)
            if run.status != "COMPLETED":
                raise StepFailed(step, f"run {run_id} ended {run.status}: {run.error_message}")
            self.say(
                f"ok   {step}: run {run_id} COMPLETED, {run.records_processed:,} records, "
                f"{run.records_failed:,} failed"
            )

    def loop(self, phase: str = "ITEM_EQUIPMENT") -> str:
        from maplecollect.client.waiting import idle_target

        step = f"loop {phase}"
        with self.step(step):
            self.begin(step, f"starting a loop of {phase} (date {self.date or 'latest'})")
            try:
                started = self.api.start_loop(Phase(phase), date=self.date)
            except ControlApiError as exc:
                reason = cli_error(exc).message
                raise StepFailed(step, f"{reason} (the smoke check needs the phase idle)") from None
            if started.already_active:
                raise StepFailed(
                    step, f"{describe(409, started.body)} (the smoke check needs the phase idle)"
                )
            loop_id = started.loop_id
            self.started_loops[phase] = loop_id

            def check(status: RunStatusPublic) -> None:
                loop = status.loop_summaries.get(Phase(phase))
                if loop is None or loop.loop_id != loop_id:
                    return
                run = status.slots.get(Phase(phase))
                if run is not None and run.run_id == loop.current_run_id:
                    self._unpaused(step, run)
                if loop.status == "STOPPED":
                    raise StepFailed(step, f"loop stopped on its own: {loop.last_error}")
                if (loop.last_error or "").startswith("waiting: no COMPLETED"):
                    raise StepFailed(step, f"{loop.last_error} (run the daily chain once first)")

            def iterated(status: RunStatusPublic) -> bool:
                loop = status.loop_summaries.get(Phase(phase))
                return loop is not None and loop.loop_id == loop_id and loop.iteration_count >= 1

            polled = idle_target(Phase(phase))  # the run-status document, another end
            what = f"an iteration of loop {loop_id} to finish"
            status = self.wait(step, replace(polled, what=what, done=iterated), check)
            loop = status.loop_summaries[Phase(phase)]
            assert loop is not None  # `iterated` saw it
            self.say(
                f"ok   {step}: loop {loop_id} finished iteration 1 "
                f"(run {loop.last_run_id}, consecutive failures {loop.consecutive_failures})"
            )
            return loop_id

    def stop_loop(self, phase: str, loop_id: str) -> None:
        from maplecollect.client.waiting import idle_target

        step = f"stop-loop {phase}"
        with self.step(step):
            self.begin(step, f"stopping loop {loop_id}")
            result = self.api.stop_loop(Phase(phase))
            if not result.requested or result.loop_id != loop_id:
                raise StepFailed(step, f"unexpected answer {result.body}")
            idle = replace(idle_target(Phase(phase)), what=f"loop {loop_id} and its run to end")
            loop = self.wait(step, idle).loop_summaries[Phase(phase)]
            assert loop is not None  # it was stopped, so it is there
            self.started_loops.pop(phase, None)
            if result.run_id:
                run = self.api.run(result.run_id)
                if run.status not in ("STOPPED", "COMPLETED"):
                    raise StepFailed(step, f"its run {run.run_id} ended {run.status}")
            self.say(
                f"ok   {step}: loop {loop_id} STOPPED after {loop.iteration_count} iteration(s)"
            )

    def idle_stop(self, phase: str = "ITEM_EQUIPMENT") -> None:
        step = "idle-stop"
        with self.step(step):
            self.begin(step, f"stop and stop-loop of idle {phase}")
            stop = self.api.stop_phase(Phase(phase))
            if stop.requested:
                raise StepFailed(step, f"stop of idle {phase} answered {stop.body.get('status')}")
            stop = self.api.stop_loop(Phase(phase))
            if stop.requested:
                answer = stop.body.get("status")
                raise StepFailed(step, f"stop-loop of idle {phase} answered {answer}")
            self.say(f"ok   {step}: stop {phase} → NOT_RUNNING, stop-loop → NOT_LOOPING")

    def cleanup(self) -> None:
        """Stop what this check started and left running (best effort)."""
        for phase, loop_id in list(self.started_loops.items()):
            try:
                self.api.stop_loop(Phase(phase))
                self.say(f"cleanup: stop requested for loop {loop_id}")
            except ControlApiError as exc:
                self.say(f"cleanup: could not stop loop {loop_id}: {cli_error(exc).message}")
        for phase, run_id in list(self.started_runs.items()):
            try:
                if self.api.stop_phase(Phase(phase)).run_id == run_id:
                    self.say(f"cleanup: stop requested for run {run_id}")
            except ControlApiError as exc:
                self.say(f"cleanup: could not stop run {run_id}: {cli_error(exc).message}")


@dataclass
class AirflowCheck:
    url: str
    user: str
    password: str
    timeout: float
    say: Callable[[str], None]

    def _client(self) -> httpx.Client:
        import httpx

        try:
            res = httpx.post(
                f"{self.url}/auth/token",
                json={"username": self.user, "password": self.password},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            raise StepFailed(
                "airflow-login", f"cannot reach {self.url}: {type(exc).__name__}"
            ) from None
        if res.status_code not in (200, 201):
            raise StepFailed("airflow-login", f"POST /auth/token answered HTTP {res.status_code}")
        token = res.json().get("access_token")
        if not token:
            raise StepFailed("airflow-login", "no access_token in the answer of /auth/token")
        return httpx.Client(
            base_url=f"{self.url}/api/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def run(self) -> None:
        with self._client() as http:
            self.say("ok   airflow-login: token received")
            dag = http.get(f"/dags/{DAG_ID}")
            if dag.status_code != 200:
                raise StepFailed("airflow-dag", f"GET /dags/{DAG_ID} answered {dag.status_code}")
            if dag.json().get("is_paused"):
                raise StepFailed("airflow-dag", f"DAG {DAG_ID} is paused; unpause it first")
            self.say(f"ok   airflow-dag: {DAG_ID} is active")
            bad = http.post(
                f"/dags/{DAG_ID}/dagRuns",
                json={"logical_date": None, "conf": {"scope": "NOT_A_PHASE"}},
            )
            if bad.status_code < 400 or bad.status_code >= 500:
                raise StepFailed(
                    "airflow-invalid-scope",
                    f"scope NOT_A_PHASE was answered HTTP {bad.status_code}, not refused",
                )
            self.say(f"ok   airflow-invalid-scope: refused with HTTP {bad.status_code}")
            good = http.post(
                f"/dags/{DAG_ID}/dagRuns",
                json={"logical_date": None, "conf": {"scope": ["ITEM_EQUIPMENT_STOP_LOOP"]}},
            )
            if good.status_code not in (200, 201):
                raise StepFailed(
                    "airflow-valid-scope",
                    f"trigger answered HTTP {good.status_code}: {good.text[:200]}",
                )
            run_id = good.json()["dag_run_id"]
            deadline = time.monotonic() + self.timeout
            while True:
                state = http.get(f"/dags/{DAG_ID}/dagRuns/{run_id}").json().get("state")
                if state == "success":
                    break
                if state == "failed":
                    raise StepFailed("airflow-valid-scope", f"DAG run {run_id} failed")
                if time.monotonic() > deadline:
                    raise StepFailed(
                        "airflow-valid-scope",
                        f"DAG run {run_id} still {state} after {self.timeout:g} s",
                    )
                time.sleep(2)
            self.say(f"ok   airflow-valid-scope: DAG run {run_id} succeeded")


def smoke(
    *,
    phase: Annotated[
        str, typer.Option("--phase", help="The phase to trigger and wait for.")
    ] = "RANKING_FETCH",
    date: options.DateOpt = None,
    step_timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each waiting step may take.")
    ] = 900.0,
    airflow_url: Annotated[
        str | None, typer.Option("--airflow-url", help="Airflow webserver/API server base URL.")
    ] = None,
    airflow_user: Annotated[
        str | None, typer.Option("--airflow-user", envvar="AIRFLOW_USER", help="Airflow user.")
    ] = None,
    airflow_password: Annotated[
        str | None,
        typer.Option(
            "--airflow-password",
            envvar="AIRFLOW_PASSWORD",
            help="Airflow password.",
            show_default=False,
        ),
    ] = None,
    url: options.UrlOpt = options.DEFAULT,
    token: options.TokenOpt = None,
) -> None:
    """Post-deploy check: trigger, loop, stop and idle stop against a running service."""
    target = options.parse_phase(phase).value
    snapshot = options.parse_date(date)
    if airflow_url is not None:
        airflow_url = check_url(airflow_url)
        if not airflow_user or not airflow_password:
            raise usage_error("--airflow-url needs --airflow-user and --airflow-password")
    out = console()
    with connect(url, token) as api:
        check = Smoke(api, step_timeout, lambda line: out.print(line, markup=False), date=snapshot)
        try:
            check.health()
            check.trigger(target)
            loop_id = check.loop("ITEM_EQUIPMENT")
            check.stop_loop("ITEM_EQUIPMENT", loop_id)
            check.idle_stop("ITEM_EQUIPMENT")
            if airflow_url is not None:
                assert airflow_user is not None and airflow_password is not None
                AirflowCheck(
                    airflow_url, airflow_user, airflow_password, step_timeout, out.print
                ).run()
        except StepFailed as exc:
            out.print(f"FAIL {exc.step}: {exc.reason}", markup=False)
            check.cleanup()
            raise CliError(f"smoke check failed at step '{exc.step}': {exc.reason}") from None
        except (KeyboardInterrupt, ControlApiError):
            check.cleanup()
            raise
    out.print("smoke check passed")
