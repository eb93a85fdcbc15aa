#!/bin/bash
# arcfix: start-sshd
# Enables and starts the SSH service (ssh on Debian/Ubuntu, sshd elsewhere).
set -e
unit=sshd
if [ -f /etc/debian_version ]; then unit=ssh; fi
systemctl enable --now "$unit.service"
