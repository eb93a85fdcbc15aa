#!/bin/bash
# arcfix: agent-port {{PORT}}
# Adds the SSH port to the agent's incoming ports, keeping the ports already there.
set -e
PORT={{PORT}}
current=$(azcmagent config get incomingconnections.ports | tr -c '0-9' ' ')
ports=""
for p in $current; do
  if [ "$p" = "$PORT" ]; then echo "port $PORT already allowed"; exit 0; fi
  ports="$ports$p,"
done
azcmagent config set incomingconnections.ports "$ports$PORT"
