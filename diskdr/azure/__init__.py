"""diskdr/azure."""
