"""daily_collection_pipeline: run, loop and stop maplecollect phases (DESIGN §6).

No conf (or `{"scope": "FULL_DAILY"}`): the service's daily chain, waited on.
`{"scope": [...tokens]}`: per-phase tasks in a fixed order (stops, triggers in
pipeline order, loops). `{"steps": [...]}`: the given steps, one after another.
See docs/airflow.md. This file only wires parts of `maplecollect.airflow`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.python import BranchPythonOperator
from airflow.sdk import DAG, chain

from maplecollect.airflow import pipeline as pl
from maplecollect.airflow.operators import TriggerDailyOperator
from maplecollect.airflow.params import dag_params
from maplecollect.airflow.sensors import DailyChainSensor, ExtApiHealthSensor
from maplecollect.airflow.settings import wait_settings

settings = wait_settings()

with DAG(
    dag_id=pl.DAG_ID,
    description="Daily MapleStory snapshots; per-phase trigger / loop / stop by conf",
    schedule="0 18 * * *",  # 18:00 UTC = 03:00 KST, after yesterday's data is published
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    params=dag_params(),
    tags=["maplecollect"],
    doc_md=__doc__,
) as dag:
    check = ExtApiHealthSensor(
        task_id=pl.CHECK_TASK,
        pre_execute=pl.check_conf,  # a bad conf fails here, before any call to the service
        poke_interval=settings.health_interval,
        timeout=settings.health_timeout,
    )
    branch = BranchPythonOperator(task_id=pl.BRANCH_TASK, python_callable=pl.choose_branch)
    check >> branch

    # FULL_DAILY
    daily = TriggerDailyOperator(task_id=pl.DAILY_TRIGGER_TASK, date=pl.DATE_TEMPLATE)
    wait_daily = DailyChainSensor(
        task_id=pl.DAILY_WAIT_TASK,
        chain_id=pl.xcom_template(pl.DAILY_TRIGGER_TASK),
        poll_interval=settings.poll_interval,
        timeout=settings.daily_timeout,
    )
    branch >> daily >> wait_daily

    # scope: one chain of per-phase tasks; steps: MAX_STEPS (action, wait) slots.
    # Each task also hangs directly off the branch, so the branch skips a whole
    # unchosen path at once; inside the chosen path, out-of-scope tasks skip themselves.
    for path in (pl.per_phase_chain(settings), pl.steps_chain(settings)):
        branch >> path
        chain(*path)
