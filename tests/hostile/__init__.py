"""Attacks on a live ``ws`` server and client through raw sockets (issue 6)."""
