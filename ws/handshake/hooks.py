"""How the handshake reaches extension negotiation and subprotocol selection.

``ws.handshake`` may not import ``ws.extensions``. It talks to extension
factories through these structural protocols instead, which the abstract
classes of ``ws.extensions.base`` satisfy. The handshake never looks inside a
negotiated extension: it only collects what the factories return, so its
results are generic in the extension type ``E``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from ws.typing import ExtensionParameter

__all__ = [
    "ClientExtensionFactoryHook",
    "E",
    "NegotiatedExtension",
    "ServerExtensionFactoryHook",
    "SubprotocolSelector",
]


class NegotiatedExtension(Protocol):
    """The handshake's view of a negotiated extension: only its name."""

    @property
    def name(self) -> str: ...


E = TypeVar("E", bound=NegotiatedExtension)
E_co = TypeVar("E_co", bound=NegotiatedExtension, covariant=True)


class ClientExtensionFactoryHook(Protocol[E]):
    """A client-side extension factory, as the handshake sees it."""

    @property
    def name(self) -> str: ...

    def get_request_params(self) -> list[ExtensionParameter]: ...

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[E]
    ) -> E: ...


class ServerExtensionFactoryHook(Protocol[E]):
    """A server-side extension factory, as the handshake sees it."""

    @property
    def name(self) -> str: ...

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[E]
    ) -> tuple[list[ExtensionParameter], E]: ...


class SubprotocolSelector(Protocol):
    """Picks a subprotocol from those a client offered, or ``None`` for none.

    Called with the client's offers in the client's order.
    """

    def __call__(self, offered: Sequence[str]) -> str | None: ...
