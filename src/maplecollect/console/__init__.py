"""The operator's side of maplecollect: the CLI commands, registered by `maplecollect.cli`."""
