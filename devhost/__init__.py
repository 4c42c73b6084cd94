"""devhost."""
