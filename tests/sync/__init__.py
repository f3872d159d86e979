"""Tests of the blocking API, ws.sync."""
