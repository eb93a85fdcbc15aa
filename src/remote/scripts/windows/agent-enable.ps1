# arcfix: agent-enable
# Lets the Connected Machine agent accept incoming connections.
$ErrorActionPreference = 'Stop'
& (Join-Path $env:ProgramFiles 'AzureConnectedMachineAgent\azcmagent.exe') config set incomingconnections.enabled true
