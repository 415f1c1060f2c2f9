"""daily_collection_pipeline: run, loop and stop maplecollect phases (docs/airflow.md).

No conf (or `{"scope": "FULL_DAILY"}`): the service's daily chain, waited on.
`{"scope": [...tokens]}`: only the per-phase tasks of those tokens, in a fixed order
(stops, triggers in pipeline order, loops). `{"steps": [...]}`: the given steps, one
after another, in the single task `run_steps`. Scheduled and backfill runs collect the
KST day of their data interval. Shipped paused (unpausing runs the latest 03:00 KST
schedule at once). This file only wires parts of `maplecollect.airflow`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable

from maplecollect.airflow import pipeline as pl
from maplecollect.airflow.params import dag_params
from maplecollect.airflow.sensors import ExtApiHealthSensor
from maplecollect.airflow.settings import wait_settings

settings = wait_settings()

with DAG(
    dag_id=pl.DAG_ID,
    description="Daily MapleStory snapshots; per-phase trigger / loop / stop by conf",
    # 03:00 KST (18:00 UTC), after yesterday's data is published. The data interval is
    # the day before, 03:00 KST to 03:00 KST: its KST start day is the snapshot date.
    schedule=CronTriggerTimetable("0 3 * * *", timezone="Asia/Seoul", interval=timedelta(days=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    # Unpausing starts the latest scheduled run at once (a full collection): opt in.
    is_paused_upon_creation=True,
    params=dag_params(),
    user_defined_macros=pl.USER_DEFINED_MACROS,
    tags=["maplecollect"],
    doc_md=__doc__,
) as dag:
    check = ExtApiHealthSensor(
        task_id=pl.CHECK_TASK,
        pre_execute=pl.check_conf,  # a bad conf fails here, before any call to the service
        poke_interval=settings.health_interval,
        timeout=settings.health_timeout,
    )
    branch = pl.ScopeBranchOperator(task_id=pl.BRANCH_TASK)
    check >> branch

    daily, wait_daily = pl.daily_tasks(settings)  # FULL_DAILY
    branch >> daily >> wait_daily
    # scope: only the chosen per-phase tasks run, each after every earlier one.
    pl.wire_in_order(branch, pl.per_phase_chain(settings))
    branch >> pl.steps_task(settings)  # steps: one task, deferring between steps
