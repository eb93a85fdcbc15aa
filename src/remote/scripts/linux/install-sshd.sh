#!/bin/bash
# arcfix: install-sshd
# Installs the OpenSSH server with the distribution's package manager.
set -e
if command -v apt-get >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server
elif command -v dnf >/dev/null 2>&1; then
  dnf install -y openssh-server
elif command -v zypper >/dev/null 2>&1; then
  zypper --non-interactive install openssh-server
elif command -v apk >/dev/null 2>&1; then
  apk add openssh-server
else
  echo "no supported package manager found" >&2
  exit 1
fi
