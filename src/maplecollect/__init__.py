"""maplecollect: daily MapleStory snapshots from the Nexon Open API."""

__version__ = "0.1.0"

# Bumped whenever a control-API route or body changes (DESIGN §5). The Airflow
# DAG refuses to run against a service that reports an older one.
API_VERSION = 1
