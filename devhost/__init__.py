"""devhost: a local Azure Functions + Durable Functions host for the offline twin.

It loads ``function_app.py`` (a ``df.DFApp``), serves its HTTP, Event Grid and timer
triggers, and runs orchestrations, activities and entities through the Durable SDK's own
replay (``Orchestrator.handle`` / ``Entity.handle``), keeping durable state in SQLite.
Run it with ``python -m devhost --app-dir DIR --port P``; see ``docs/devhost.md``.
"""
