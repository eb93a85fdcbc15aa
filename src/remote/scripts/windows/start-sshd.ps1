# arcfix: start-sshd
# Starts the sshd service and makes it start with Windows.
$ErrorActionPreference = 'Stop'
Set-Service -Name sshd -StartupType Automatic
Start-Service sshd
