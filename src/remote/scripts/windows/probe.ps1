# arcfix: probe
# Read-only: reports sshd and the Arc agent's settings as key=value lines.
$Port = {{PORT}}
"os=windows"
"sshd_unit=sshd"
$svc = Get-Service -Name sshd -ErrorAction SilentlyContinue
"sshd_installed=$([bool]$svc)".ToLower()
"sshd_active=$([bool]($svc -and $svc.Status -eq 'Running'))".ToLower()
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
