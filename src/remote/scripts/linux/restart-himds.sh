#!/bin/bash
# arcfix: restart-himds
# Restarts the hybrid agent after the provider registration. The restart is
# delayed a few seconds so this run command can report back first.
nohup sh -c 'sleep 5; systemctl restart himdsd.service' >/dev/null 2>&1 &
echo "himdsd restart scheduled"
