"""Interoperability tests against real third-party WebSocket peers."""
