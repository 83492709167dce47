"""The commands, one module each: a planner (observe, check, plan) run by the
one lifecycle of ``bluegreen.lifecycle.run``. ``bluegreen.api`` gathers them
for library users; the command line imports only the command it runs."""
