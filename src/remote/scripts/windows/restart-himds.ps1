# arcfix: restart-himds
# Restarts the hybrid agent after the provider registration. A one-shot
# scheduled task restarts it 5 seconds from now, outside this run command
# (whose processes may be ended once it reports back), then removes itself;
# arcfix then probes again until the agent's start time changed, and reports
# the step unconfirmed otherwise.
$ErrorActionPreference = 'Stop'
$task = 'arcfix-restart-himds'
$action = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -NonInteractive -Command Restart-Service himds; Unregister-ScheduledTask -TaskName $task -Confirm:`$false"
$trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).AddSeconds(5)
$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable
Register-ScheduledTask -TaskName $task -Action $action -Trigger $trigger -Settings $settings -User 'SYSTEM' -RunLevel Highest -Force | Out-Null
"himds restart scheduled in 5 seconds"
