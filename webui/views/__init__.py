"""Blueprints per area."""
