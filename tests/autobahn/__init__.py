"""Conformance: the Autobahn TestSuite (run by kosoku) against ws, both roles."""
