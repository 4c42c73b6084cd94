"""Durable activities: each is one idempotent call into ``diskdr.azure``."""
