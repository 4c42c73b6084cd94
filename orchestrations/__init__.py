"""Durable orchestrators: deterministic generators, no I/O, time only from the context."""
