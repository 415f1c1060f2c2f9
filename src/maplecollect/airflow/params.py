"""JSON schemas of the DAG's Params, checked by Airflow when a DAG run is created.

A bad value (unknown token, `RANKING_FETCH_LOOP`, wrong type, empty list, loop of
a non-loopable phase, malformed date ...) is refused by the CLI / REST API before
the run exists. Airflow checks each Param alone, so cross-key rules (scope and
steps together, unknown keys) are enforced by the first task (`scope.plan_from_params`).
"""

from __future__ import annotations

from typing import Any

from maplecollect.airflow.scope import FULL_DAILY, LATEST, MAX_STEPS, SCOPE_TOKENS, Action
from maplecollect.ids import RUN_ID_RE
from maplecollect.phases import LOOPABLE, ORDER

_PHASES = [p.value for p in ORDER]
_LOOPABLE = [p.value for p in LOOPABLE]
_RUN_ID_OR_LATEST = f"^(?:{LATEST}|{RUN_ID_RE.pattern.strip('^$')})$"

SCOPE_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "enum": [FULL_DAILY, *SCOPE_TOKENS]},
        {
            "type": "array",
            "items": {"type": "string", "enum": list(SCOPE_TOKENS)},
            "minItems": 1,
            "uniqueItems": True,
        },
    ]
}

_STEP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": [a.value for a in Action]},
        "phase": {"type": "string", "enum": _PHASES},
    },
    "required": ["action", "phase"],
    "additionalProperties": False,
    # loop / stop_loop only for the loopable phases.
    "anyOf": [
        {"properties": {"action": {"enum": [Action.TRIGGER.value, Action.STOP.value]}}},
        {
            "properties": {
                "action": {"enum": [Action.LOOP.value, Action.STOP_LOOP.value]},
                "phase": {"enum": _LOOPABLE},
            }
        },
    ],
}

STEPS_SCHEMA: dict[str, Any] = {
    "type": ["null", "array"],
    "items": _STEP_SCHEMA,
    "minItems": 1,
    "maxItems": MAX_STEPS,
}

UPSTREAM_RUN_IDS_SCHEMA: dict[str, Any] = {
    "type": ["null", "object"],
    "properties": {
        p.value: {"type": "string", "pattern": _RUN_ID_OR_LATEST}
        for p in ORDER
        if p.upstream is not None
    },
    "additionalProperties": False,
}

DATE_SCHEMA: dict[str, Any] = {
    "type": ["null", "string"],
    "pattern": r"^(?:\d{4}-\d{2}-\d{2}|latest)$",
}


def param_specs() -> dict[str, tuple[Any, str, dict[str, Any]]]:
    """name -> (default, description, schema); the DAG file wraps each in `Param`."""
    return {
        "scope": (
            FULL_DAILY,
            f"{FULL_DAILY} (the daily chain), or a token or list of tokens: "
            + ", ".join(SCOPE_TOKENS),
            SCOPE_SCHEMA,
        ),
        "steps": (
            None,
            'Ordered list of {"action": "trigger"|"loop"|"stop"|"stop_loop", "phase": ...}; '
            f"at most {MAX_STEPS}; not together with a scope.",
            STEPS_SCHEMA,
        ),
        "upstream_run_ids": (
            None,
            "Optional {PHASE: runId or 'latest'} for non-root phase triggers.",
            UPSTREAM_RUN_IDS_SCHEMA,
        ),
        "date": (
            None,
            "Snapshot date YYYY-MM-DD (KST) or 'latest'; empty = the service default.",
            DATE_SCHEMA,
        ),
    }


def dag_params() -> dict[str, Any]:
    """The DAG's `params=`: one `airflow.sdk.Param` per conf key."""
    from airflow.sdk import Param

    return {
        name: Param(default, description=description, **schema)
        for name, (default, description, schema) in param_specs().items()
    }
