#!/bin/bash
# arcfix: restart-himds
# Restarts the hybrid agent after the provider registration. systemd restarts
# it 5 seconds from now, outside this run command (whose processes may be
# ended once it reports back); arcfix then probes again until the agent's
# start time changed, and reports the step unconfirmed otherwise.
set -eu
systemd-run --on-active=5 systemctl restart himdsd.service
echo "himdsd restart scheduled in 5 seconds"
