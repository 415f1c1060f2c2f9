"""The DAG's conf: scope tokens, steps, upstream ids, date -> an ordered plan. Pure.

Scope tokens run in one fixed order (stops, one-shot triggers in pipeline order,
loops); `steps` run in the order given (docs/airflow.md, "The conf").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from maplecollect.dates import parse_snapshot_date
from maplecollect.errors import ConfigError, MaplecollectError
from maplecollect.ids import is_valid_id
from maplecollect.phases import LOOPABLE, ORDER, Phase

FULL_DAILY = "FULL_DAILY"
LATEST = "latest"
CONF_KEYS = ("scope", "steps", "upstream_run_ids", "date")
MAX_STEPS = 10


class ConfError(ConfigError):
    """The DAG run's conf is not acceptable; the message says which key and why."""


class Action(StrEnum):
    TRIGGER = "trigger"
    LOOP = "loop"
    STOP = "stop"
    STOP_LOOP = "stop_loop"


@dataclass(frozen=True)
class Step:
    action: Action
    phase: Phase

    def __post_init__(self) -> None:
        if self.action in (Action.LOOP, Action.STOP_LOOP) and not self.phase.loopable:
            raise ConfError(
                f"{self.phase} cannot loop: '{self.action}' is only for {', '.join(LOOPABLE)}"
            )

    @property
    def token(self) -> str:
        """`ITEM_EQUIPMENT`, `ITEM_EQUIPMENT_LOOP`, `..._STOP`, `..._STOP_LOOP`."""
        if self.action is Action.TRIGGER:
            return self.phase.value
        return f"{self.phase}_{self.action.value.upper()}"

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action.value, "phase": self.phase.value}


# Every allowed scope step, in the fixed execution order.
SCOPE_STEPS: tuple[Step, ...] = (
    *(
        Step(action, phase)
        for phase in ORDER
        for action in ((Action.STOP_LOOP,) if phase.loopable else ()) + (Action.STOP,)
    ),
    *(Step(Action.TRIGGER, phase) for phase in ORDER),
    *(Step(Action.LOOP, phase) for phase in LOOPABLE),
)
SCOPE_TOKENS: tuple[str, ...] = tuple(step.token for step in SCOPE_STEPS)
_BY_TOKEN: dict[str, Step] = {step.token: step for step in SCOPE_STEPS}


def parse_scope(scope: Any) -> tuple[Step, ...] | None:
    """None for FULL_DAILY; else the tokens' steps in the fixed order (duplicates refused)."""
    if scope == FULL_DAILY:
        return None
    tokens = [scope] if isinstance(scope, str) else scope
    if not isinstance(tokens, list) or not tokens:
        raise ConfError(f"scope must be {FULL_DAILY!r}, a token or a non-empty list of tokens")
    wanted: set[Step] = set()
    for token in tokens:
        if not isinstance(token, str) or token not in _BY_TOKEN:
            raise ConfError(f"scope token {token!r} is not one of {', '.join(SCOPE_TOKENS)}")
        if _BY_TOKEN[token] in wanted:
            raise ConfError(f"scope token {token!r} is given twice")
        wanted.add(_BY_TOKEN[token])
    return tuple(step for step in SCOPE_STEPS if step in wanted)


def parse_steps(steps: Any) -> tuple[Step, ...]:
    """The `steps` list as given (order kept); each item exactly {"action", "phase"}."""
    if not isinstance(steps, list) or not steps:
        raise ConfError('steps must be a non-empty list of {"action", "phase"} objects')
    if len(steps) > MAX_STEPS:
        raise ConfError(f"steps has {len(steps)} items; at most {MAX_STEPS} are allowed")
    parsed = []
    for i, item in enumerate(steps):
        if not isinstance(item, Mapping) or set(item) != {"action", "phase"}:
            raise ConfError(f"steps[{i}] must be an object with exactly 'action' and 'phase'")
        action = item["action"]
        phase = Phase.parse(item["phase"]) if isinstance(item["phase"], str) else None
        if action not in set(Action):
            raise ConfError(f"steps[{i}].action {action!r} is not one of {', '.join(Action)}")
        if phase is None:
            raise ConfError(f"steps[{i}].phase {item['phase']!r} is not one of {', '.join(ORDER)}")
        parsed.append(Step(Action(action), phase))
    return tuple(parsed)


def parse_upstream_run_ids(value: Any) -> dict[Phase, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfError("upstream_run_ids must be an object {PHASE: runId or 'latest'}")
    result: dict[Phase, str] = {}
    for key, run_id in value.items():
        phase = Phase.parse(key) if isinstance(key, str) else None
        if phase is None or phase.upstream is None:
            allowed = ", ".join(p for p in ORDER if p.upstream is not None)
            raise ConfError(f"upstream_run_ids key {key!r} is not one of {allowed}")
        if not isinstance(run_id, str) or not (run_id == LATEST or is_valid_id(run_id)):
            raise ConfError(f"upstream_run_ids[{key}] {run_id!r} is not a run id or 'latest'")
        result[phase] = run_id
    return result


def parse_date(value: Any, *, now: datetime | None = None) -> str | None:
    if value is None or value == "":
        return None
    try:
        return parse_snapshot_date(value, now=now or datetime.now(UTC))
    except MaplecollectError as exc:
        raise ConfError(f"date: {exc}") from None


class Mode(StrEnum):
    FULL_DAILY = "full_daily"
    SCOPE = "scope"
    STEPS = "steps"


@dataclass(frozen=True)
class Plan:
    """What one DAG run does: the path, its ordered steps, upstream ids, snapshot date."""

    mode: Mode
    steps: tuple[Step, ...] = ()
    upstream_run_ids: Mapping[Phase, str] = field(default_factory=dict)
    date: str | None = None


def plan_from_params(
    params: Mapping[str, Any],
    *,
    raw_conf: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    check_date: bool = True,
) -> Plan:
    """The whole conf check of the first task (Airflow validates each Param alone);
    `raw_conf`, the conf as given, is only read to refuse unknown keys."""
    unknown = sorted(set(raw_conf or {}) - set(CONF_KEYS))
    if unknown:
        raise ConfError(f"unknown conf key(s) {unknown}; allowed: {', '.join(CONF_KEYS)}")
    scope = params.get("scope", FULL_DAILY)
    steps = params.get("steps")
    if steps is not None and scope != FULL_DAILY:
        raise ConfError("give either 'scope' or 'steps', not both")
    upstream = parse_upstream_run_ids(params.get("upstream_run_ids"))
    date = parse_date(params.get("date"), now=now) if check_date else params.get("date") or None
    if steps is not None:
        return Plan(Mode.STEPS, parse_steps(steps), upstream, date)
    scoped = parse_scope(scope)
    if scoped is None:
        return Plan(Mode.FULL_DAILY, (), upstream, date)
    return Plan(Mode.SCOPE, scoped, upstream, date)


def resolve_upstream(
    steps: Sequence[Step], index: int, explicit: Mapping[Phase, str], ids: Sequence[str | None]
) -> str | None:
    """X-Upstream-Run-Id of `steps[index]`: None unless it triggers a non-root phase;
    else `upstream_run_ids[PHASE]`, else the run of the latest earlier trigger of the
    upstream phase (`ids`: the id of each earlier step), else `latest`."""
    step = steps[index]
    if step.action is not Action.TRIGGER or step.phase.upstream is None:
        return None
    source = Step(Action.TRIGGER, step.phase.upstream)
    earlier = (ids[j] for j in range(index - 1, -1, -1) if steps[j] == source)
    return explicit.get(step.phase) or next(earlier, None) or LATEST
