#!/bin/bash
# arcfix: agent-port {{PORT}}
# Adds the SSH port to the Arc agent's incoming ports, keeping every port
# already there. Changes nothing when the list cannot be read or holds anything
# but ports, and fails when a port allowed before is missing afterwards.
# No pipes: azcmagent's own exit status counts (what pipefail is for).
set -eu
set -f # nothing azcmagent prints is taken as a file name
PORT={{PORT}}

# Whether $1 is a port number (1-65535).
is_port() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  [ ${#1} -le 5 ] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# incomingconnections.ports, one port or range (low-high) per line; fails when
# azcmagent fails or prints anything else. Accepted: 22,6516  [22 6516]
# ["22","6516"]  and nothing at all (not restricted).
read_ports() {
  raw=$(azcmagent config get incomingconnections.ports) || {
    echo "azcmagent config get incomingconnections.ports failed" >&2
    return 1
  }
  case $raw in \[*\]) raw=${raw#\[}; raw=${raw%\]} ;; esac
  case $raw in *\[* | *\]*)
    echo "incomingconnections.ports is not a list of ports: $raw" >&2
    return 1 ;;
  esac
  IFS=' ,
'
  for item in $raw; do
    case $item in \"*\") item=${item#\"}; item=${item%\"} ;; esac
    [ -n "$item" ] || continue
    low=${item%%-*}; high=${item#*-}
    if ! is_port "$low" || ! is_port "$high" || [ "$low" -gt "$high" ]; then
      echo "incomingconnections.ports holds '$item', not a port" >&2
      return 1
    fi
    echo "$item"
  done
}

# Whether the port or range $1 lies within one entry of the list $2.
allowed() {
  for range in $2; do
    if [ "${range%-*}" -le "${1%-*}" ] && [ "${1#*-}" -le "${range#*-}" ]; then return 0; fi
  done
  return 1
}

before=$(read_ports) || { echo "nothing changed" >&2; exit 1; }
if [ -z "$before" ]; then echo "all ports allowed (not restricted)"; exit 0; fi
if allowed "$PORT" "$before"; then echo "port $PORT already allowed"; exit 0; fi

list=""
for entry in $before; do list="$list$entry,"; done
azcmagent config set incomingconnections.ports "$list$PORT"

after=$(read_ports) || { echo "cannot read the ports back after the change" >&2; exit 1; }
for entry in $before $PORT; do
  if ! allowed "$entry" "$after"; then
    echo "port $entry is no longer allowed after the change; ports now:" $after >&2
    exit 1
  fi
done
echo "incomingconnections.ports:" $after
