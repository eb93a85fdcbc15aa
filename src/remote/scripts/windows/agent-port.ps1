# arcfix: agent-port {{PORT}}
# Adds the SSH port to the Arc agent's incoming ports, keeping every port
# already there. Changes nothing when the list cannot be read or holds anything
# but ports, and fails when a port allowed before is missing afterwards.
$ErrorActionPreference = 'Stop'
$Port = '{{PORT}}'
$agent = Join-Path $env:ProgramFiles 'AzureConnectedMachineAgent\azcmagent.exe'

# incomingconnections.ports as ports and ranges (low-high); stops when azcmagent
# fails or prints anything else. Accepted: 22,6516  [22 6516]  ["22","6516"]
# and nothing at all (not restricted).
function Read-Ports {
  $raw = (& $agent config get incomingconnections.ports) -join ' '
  if ($LASTEXITCODE -ne 0) { throw "azcmagent config get incomingconnections.ports failed (exit code $LASTEXITCODE)" }
  $items = $raw.Trim().TrimStart('[').TrimEnd(']') -split '[,\s]+' | Where-Object { $_ } | ForEach-Object { $_.Trim('"') }
  foreach ($item in $items) {
    $low, $high = $item.Split('-')[0], $item.Split('-')[-1]
    if ($item -notmatch '^\d{1,5}(-\d{1,5})?$' -or [int]$low -lt 1 -or [int]$high -gt 65535 -or [int]$low -gt [int]$high) {
      throw "incomingconnections.ports holds '$item', not a port"
    }
  }
  , @($items)
}

# Whether the port or range $Entry lies within one entry of $List.
function Test-Allowed($Entry, $List) {
  $low, $high = [int]$Entry.Split('-')[0], [int]$Entry.Split('-')[-1]
  foreach ($e in $List) {
    if ([int]$e.Split('-')[0] -le $low -and $high -le [int]$e.Split('-')[-1]) { return $true }
  }
  return $false
}

$before = Read-Ports
if ($before.Count -eq 0) { "all ports allowed (not restricted)"; exit 0 }
if (Test-Allowed $Port $before) { "port $Port already allowed"; exit 0 }

& $agent config set incomingconnections.ports (($before + $Port) -join ',')
if ($LASTEXITCODE -ne 0) { throw "azcmagent config set incomingconnections.ports failed (exit code $LASTEXITCODE)" }

$after = Read-Ports
$missing = @($before + $Port | Where-Object { -not (Test-Allowed $_ $after) })
if ($missing.Count -gt 0) { throw "port $($missing -join ',') no longer allowed after the change; ports now: $($after -join ',')" }
"incomingconnections.ports: $($after -join ',')"
