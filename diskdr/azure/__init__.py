"""Adapters over the Azure SDKs: the only place diskdr talks to Azure."""
