"""Params are refused at trigger time, the way Airflow's create_dagrun checks them.

`create_dagrun` runs `serialized_dag.params.deep_merge(conf).validate()`; we do the
same on the serialized DAG, so no DB is needed. test_dag_* also goes through
`dag.test(run_conf=...)` for a few of these.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "daily_collection_pipeline.py"


@pytest.fixture(scope="module")
def serialized_params():
    from airflow.serialization.serialized_objects import DagSerialization

    dag = runpy.run_path(str(DAG_FILE))["dag"]
    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag)).params


def _validate(params, conf):
    return params.deep_merge(conf).validate()


VALID = [
    None,
    {},
    {"scope": "FULL_DAILY"},
    {"scope": "RANKING_FETCH"},
    {"scope": ["RANKING_FETCH", "OCID_LOOKUP"]},
    {"scope": ["ITEM_EQUIPMENT_LOOP"]},
    {"scope": "ITEM_EQUIPMENT_STOP_LOOP"},
    {"scope": ["CHARACTER_BASIC_STOP", "CHARACTER_BASIC"], "date": "2026-01-01"},
    {"scope": "ITEM_EQUIPMENT", "upstream_run_ids": {"ITEM_EQUIPMENT": "latest"}, "date": "latest"},
    {
        "steps": [
            {"action": "loop", "phase": "ITEM_EQUIPMENT"},
            {"action": "stop_loop", "phase": "ITEM_EQUIPMENT"},
        ]
    },
    {
        "steps": [
            {"action": "trigger", "phase": "RANKING_FETCH"},
            {"action": "stop", "phase": "OCID_LOOKUP"},
        ]
    },
]

INVALID = [
    {"scope": "RANKING_FETCH_LOOP"},
    {"scope": "OCID_LOOKUP_LOOP"},
    {"scope": ["OCID_LOOKUP_LOOP"]},
    {"scope": "RANKING_FETCH_STOP_LOOP"},
    {"scope": "NOT_A_PHASE"},
    {"scope": ["RANKING_FETCH", "NOPE"]},
    {"scope": 7},
    {"scope": {"RANKING_FETCH": True}},
    {"scope": []},
    {"scope": ["RANKING_FETCH", "RANKING_FETCH"]},
    {"scope": None},
    {"steps": []},
    {"steps": "RANKING_FETCH"},
    {"steps": [{"action": "loop", "phase": "RANKING_FETCH"}]},
    {"steps": [{"action": "stop_loop", "phase": "OCID_LOOKUP"}]},
    {"steps": [{"action": "trigger", "phase": "RANKING_FETCH", "date": "x"}]},
    {"steps": [{"action": "trigger"}]},
    {"steps": [{"action": "trigger", "phase": "RANKING_FETCH"}] * 11},
    {"upstream_run_ids": {"RANKING_FETCH": "latest"}},
    {"upstream_run_ids": {"OCID_LOOKUP": "../../x"}},
    {"upstream_run_ids": "latest"},
    {"date": "yesterday"},
    {"date": "2026/01/01"},
    {"date": 20260101},
]


@pytest.mark.parametrize("conf", VALID)
def test_valid_confs_pass(serialized_params, conf):
    _validate(serialized_params, conf)


@pytest.mark.parametrize("conf", INVALID)
def test_invalid_confs_are_refused_at_trigger_time(serialized_params, conf):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        _validate(serialized_params, conf)


def test_param_defaults(serialized_params):
    resolved = serialized_params.deep_merge(None)
    assert {k: resolved[k] for k in ("scope", "steps", "upstream_run_ids", "date")} == {
        "scope": "FULL_DAILY",
        "steps": None,
        "upstream_run_ids": None,
        "date": None,
    }
