"""Tests that run the programs in ``examples/`` as a user would."""
