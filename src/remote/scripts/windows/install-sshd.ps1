# arcfix: install-sshd
# Installs the OpenSSH server Windows capability.
$ErrorActionPreference = 'Stop'
Add-WindowsCapability -Online -Name OpenSSH.Server~~~~0.0.1.0
