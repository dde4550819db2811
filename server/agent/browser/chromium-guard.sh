#!/bin/sh
# Starts Chromium so that it dies with the process that started it (Playwright's driver, which
# dies with the service): a SIGKILLed worker leaves no browser behind. At a low priority, so
# the API keeps the CPU it needs while a form is filled; Chromium raises the priority of its
# own threads when it may, so as root (a container, the tests) it loses CAP_SYS_NICE first.
#
# Playwright starts the browser in a session of its own, and Linux (autogroup scheduling) gives
# each session a group that gets a full share of the CPU against every other group, whatever
# its processes' niceness: the group itself is given a low priority. Raising a niceness needs no
# privilege; without CAP_SYS_ADMIN the kernel takes one such write a tenth of a second, so a
# browser starting beside another tries again.
if [ -w /proc/self/autogroup ]; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    { echo "${JOB_AGENT_GROUP_NICENESS:-10}" >/proc/self/autogroup; } 2>/dev/null && break
    sleep 0.05
  done
fi
if [ "$(id -u)" = 0 ]; then
  exec nice -n "${JOB_AGENT_NICENESS:-15}" setpriv --pdeathsig KILL --bounding-set -sys_nice --inh-caps -sys_nice \
    -- "$JOB_AGENT_CHROMIUM" "$@"
fi
exec nice -n "${JOB_AGENT_NICENESS:-15}" setpriv --pdeathsig KILL -- "$JOB_AGENT_CHROMIUM" "$@"
