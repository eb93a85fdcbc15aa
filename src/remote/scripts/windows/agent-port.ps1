# arcfix: agent-port {{PORT}}
# Adds the SSH port to the agent's incoming ports, keeping the ports already there.
$ErrorActionPreference = 'Stop'
$Port = '{{PORT}}'
$agent = Join-Path $env:ProgramFiles 'AzureConnectedMachineAgent\azcmagent.exe'
$current = @([regex]::Matches((& $agent config get incomingconnections.ports) -join ' ', '\d+') | ForEach-Object { $_.Value })
if ($current -contains $Port) { "port $Port already allowed"; exit 0 }
& $agent config set incomingconnections.ports (($current + $Port) -join ',')
