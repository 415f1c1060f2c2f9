from __future__ import annotations

import pytest

from maplecollect.airflow.settings import DEFAULT_PHASE_TIMEOUTS, wait_settings
from maplecollect.errors import ConfigError
from maplecollect.phases import Phase


def test_defaults():
    settings = wait_settings({})
    assert settings.poll_interval == 30.0
    assert (
        settings.phase_timeouts[Phase.ITEM_EQUIPMENT]
        == DEFAULT_PHASE_TIMEOUTS[Phase.ITEM_EQUIPMENT]
    )


def test_overrides():
    settings = wait_settings(
        {
            "MAPLECOLLECT_AIRFLOW_POLL_INTERVAL": "2.5",
            "MAPLECOLLECT_AIRFLOW_TIMEOUT_OCID_LOOKUP": "60",
        }
    )
    assert settings.poll_interval == 2.5
    assert settings.phase_timeouts[Phase.OCID_LOOKUP] == 60.0


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_values(value):
    with pytest.raises(ConfigError, match="MAPLECOLLECT_AIRFLOW_TIMEOUT_DAILY"):
        wait_settings({"MAPLECOLLECT_AIRFLOW_TIMEOUT_DAILY": value})
