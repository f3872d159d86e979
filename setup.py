"""Build script for the optional compiled helper; the metadata is in pyproject.toml.

``ws.frames._speedups`` (masking, from ``ws/frames/_speedups.c``) is built
when a C compiler is available. It is ``optional=True``: without a compiler,
or when it fails to build, the install goes on and ``ws`` uses its
pure-Python code (``ws.frames.mask.SPEEDUPS`` tells which one runs).
"""

from __future__ import annotations

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "ws.frames._speedups",
            sources=["ws/frames/_speedups.c"],
            optional=True,
        )
    ],
)
