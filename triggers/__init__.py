"""Thin trigger blueprints: validate the input, start durable work, answer."""
