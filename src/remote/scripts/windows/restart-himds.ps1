# arcfix: restart-himds
# Restarts the hybrid agent after the provider registration, a few seconds
# later so this run command can report back first.
Start-Process -WindowStyle Hidden powershell -ArgumentList '-NoProfile','-Command','Start-Sleep 5; Restart-Service himds'
"himds restart scheduled"
