#!/bin/sh
# Starts Chromium so that it dies with the process that started it (Playwright's driver, which
# dies with the service): a SIGKILLed worker leaves no browser behind. At a low priority, so
# the API keeps the CPU it needs while a form is filled.
exec nice -n 15 setpriv --pdeathsig KILL -- "$JOB_AGENT_CHROMIUM" "$@"
