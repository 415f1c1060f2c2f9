"""JSON schemas of the DAG's Params, checked by Airflow when a DAG run is created, so
a bad value is refused before the run exists. Airflow checks each Param alone: the
cross-key rules are the first task's (`scope.plan_from_params`).
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


def dag_params() -> dict[str, Any]:
    """The DAG's `params=`: one `airflow.sdk.Param` per conf key."""
    from airflow.sdk import Param

    return {
        "scope": Param(
            FULL_DAILY,
            description=f"{FULL_DAILY} (the daily chain), or a token or list of tokens: "
            + ", ".join(SCOPE_TOKENS),
            **SCOPE_SCHEMA,
        ),
        "steps": Param(
            None,
            description='Ordered list of {"action": "trigger"|"loop"|"stop"|"stop_loop", '
            f'"phase": ...}}; at most {MAX_STEPS}; not together with a scope.',
            **STEPS_SCHEMA,
        ),
        "upstream_run_ids": Param(
            None,
            description="Optional {PHASE: runId or 'latest'} for non-root phase triggers.",
            **UPSTREAM_RUN_IDS_SCHEMA,
        ),
        "date": Param(
            None,
            description="Snapshot date YYYY-MM-DD (KST) or 'latest'; empty = the service default.",
            **DATE_SCHEMA,
        ),
    }
