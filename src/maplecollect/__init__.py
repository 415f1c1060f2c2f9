"""maplecollect: daily MapleStory snapshots from the Nexon Open API."""

__version__ = "0.1.0"

# Bumped whenever a control-API route or body changes (docs/control-api.md). The
# Airflow DAG refuses to run against a service that reports an older one.
# 2: a daily 409 carries `chainId` (the running chain) and `runId` means a run;
#    loops yield to the daily chain (CHAIN_ACTIVE, loop WAITING_FOR_CHAIN).
API_VERSION = 2
