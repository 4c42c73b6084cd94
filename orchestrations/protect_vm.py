"""Blueprint: protect_vm (filled in by the backup capability, issue P4)."""

import azure.durable_functions as df

bp = df.Blueprint()
