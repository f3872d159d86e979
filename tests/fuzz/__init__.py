"""Bounded fuzz targets for the frame parser and both handshake parsers (issue 6)."""
