"""The version of trio-ws, and the product token our Server and User-Agent headers carry."""

from __future__ import annotations

import sys
from typing import Final

__all__ = ["DEFAULT_PRODUCT", "__version__"]

__version__: Final = "0.1.0.dev0"

#: ``trio-ws/<version> Python/<major>.<minor>``: the default ``Server`` and
#: ``User-Agent`` header value.
DEFAULT_PRODUCT: Final = f"trio-ws/{__version__} Python/{sys.version_info.major}.{sys.version_info.minor}"
