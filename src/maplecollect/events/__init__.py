"""Downstream events: outbox schemas and broker relays (docs/downstream.md)."""
