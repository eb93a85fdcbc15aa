# arcfix: probe
# Read-only: reports sshd and the Arc agent's settings as key=value lines.
$Port = {{PORT}}
"os=windows"
"sshd_unit=sshd"
$svc = Get-Service -Name sshd -ErrorAction SilentlyContinue
"sshd_installed=$([bool]$svc)".ToLower()
"sshd_active=$([bool]($svc -and $svc.Status -eq 'Running'))".ToLower()
# The ports sshd is configured to listen on (sshd -T reads its whole configuration).
$sshdPorts = @()
$sshdExe = Join-Path $env:windir 'System32\OpenSSH\sshd.exe'
if (Test-Path $sshdExe) {
  $sshdPorts = @(& $sshdExe -T 2>$null | Where-Object { $_ -match '^port\s+(\d+)$' } | ForEach-Object { [int]($_ -split '\s+')[1] })
}
"sshd_ports=$($sshdPorts -join ' ')"
# $Port = 0: no port was chosen; sshd's own decides (22 when it listens there).
if ($Port -eq 0) {
  $Port = 22
  if ($sshdPorts.Count -gt 0 -and -not ($sshdPorts -contains 22)) { $Port = $sshdPorts[0] }
}
"probed_port=$Port"
$banner = ""
try {
  $c = New-Object System.Net.Sockets.TcpClient('127.0.0.1', $Port)
  $c.ReceiveTimeout = 3000
  $banner = (New-Object System.IO.StreamReader($c.GetStream())).ReadLine()
  $c.Close()
} catch {}
"banner=$banner"
$agent = Join-Path $env:ProgramFiles 'AzureConnectedMachineAgent\azcmagent.exe'
if (Test-Path $agent) {
  "agent_installed=true"
  $show = & $agent show --json 2>$null | ConvertFrom-Json
  "agent_status=$($show.status)"
  "incoming_enabled=$((& $agent config get incomingconnections.enabled 2>$null) -join '')"
  $ports = & $agent config get incomingconnections.ports 2>$null
  if ($LASTEXITCODE -eq 0) { "incoming_ports=$($ports -join ' ')" } else { "incoming_ports_unreadable=true" }
  $himds = Get-Process -Name himds -ErrorAction SilentlyContinue | Select-Object -First 1
  "agent_started=$(if ($himds) { $himds.StartTime.ToUniversalTime().ToString('o') })"
} else {
  "agent_installed=false"
}
