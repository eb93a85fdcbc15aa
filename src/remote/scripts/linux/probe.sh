#!/bin/bash
# arcfix: probe
# Read-only: reports sshd and the Arc agent's settings as key=value lines.
PORT={{PORT}}
echo "os=linux"
unit=sshd
if [ -f /etc/debian_version ]; then unit=ssh; fi
echo "sshd_unit=$unit"
if [ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1; then echo "sshd_installed=true"; else echo "sshd_installed=false"; fi
if systemctl is-active --quiet "$unit.service"; then echo "sshd_active=true"; else echo "sshd_active=false"; fi
# The ports sshd is configured to listen on (sshd -T reads its whole configuration; root).
sshd_ports=$( { sshd -T 2>/dev/null || /usr/sbin/sshd -T 2>/dev/null; } | awk 'tolower($1)=="port"{print $2}' | tr '\n' ' ')
echo "sshd_ports=$sshd_ports"
# PORT=0: no port was chosen; sshd's own decides (22 when it listens there).
if [ "$PORT" = 0 ]; then
  PORT=22
  case " $sshd_ports " in
    *" 22 "*|"  ") ;;
    *) PORT=${sshd_ports%% *} ;;
  esac
fi
echo "probed_port=$PORT"
banner=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT && head -n 1 <&3" 2>/dev/null | tr -d '\r')
echo "banner=$banner"
for pm in apt-get dnf zypper apk; do
  if command -v "$pm" >/dev/null 2>&1; then echo "package_manager=$pm"; break; fi
done
if command -v azcmagent >/dev/null 2>&1; then
  echo "agent_installed=true"
  echo "agent_status=$(azcmagent show --json 2>/dev/null | sed -n 's/.*"status": *"\([^"]*\)".*/\1/p' | head -n 1)"
  echo "incoming_enabled=$(azcmagent config get incomingconnections.enabled 2>/dev/null | tr -d '\n')"
  if ports=$(azcmagent config get incomingconnections.ports 2>/dev/null); then
    echo "incoming_ports=$(printf '%s' "$ports" | tr '\n' ' ')"
  else
    echo "incoming_ports_unreadable=true"
  fi
  echo "agent_started=$(systemctl show himdsd.service -p ActiveEnterTimestampMonotonic 2>/dev/null | sed -n 's/^ActiveEnterTimestampMonotonic=//p')"
else
  echo "agent_installed=false"
fi
