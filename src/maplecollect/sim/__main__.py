"""`python -m maplecollect.sim`: the simulator CLI without the main `maplecollect` CLI."""

from maplecollect.sim.cli import main

main()
