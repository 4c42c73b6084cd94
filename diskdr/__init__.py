"""diskdr: backup and disaster recovery for Azure VM disks.

The domain package: policies, schedules, retention, names and the adapters over the Azure
SDKs. It never imports ``azure.functions``; the Functions app wires it to triggers.
"""

__version__ = "0.1.0"
