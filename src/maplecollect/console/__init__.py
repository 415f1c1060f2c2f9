"""The operator's side of maplecollect: CLI commands, the control-API client, the demo.

Each command group lives in its own module and is registered by `maplecollect.cli`.
"""
