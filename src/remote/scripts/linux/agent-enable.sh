#!/bin/bash
# arcfix: agent-enable
# Lets the Connected Machine agent accept incoming connections.
set -e
azcmagent config set incomingconnections.enabled true
