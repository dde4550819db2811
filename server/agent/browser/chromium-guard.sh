#!/bin/sh
# Starts Chromium so that it dies with the process that started it (Playwright's driver, which
# dies with the service): a SIGKILLed worker leaves no browser behind. At a low priority, so
# the API keeps the CPU it needs while a form is filled; Chromium raises the priority of its
# own threads when it may, so as root (a container, the tests) it loses CAP_SYS_NICE first.
if [ "$(id -u)" = 0 ]; then
  exec nice -n 15 setpriv --pdeathsig KILL --bounding-set -sys_nice --inh-caps -sys_nice \
    -- "$JOB_AGENT_CHROMIUM" "$@"
fi
exec nice -n 15 setpriv --pdeathsig KILL -- "$JOB_AGENT_CHROMIUM" "$@"
