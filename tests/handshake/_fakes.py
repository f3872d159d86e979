"""Small extension factories implementing the hook protocols, for the handshake tests."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ws.errors import NegotiationError
from ws.typing import ExtensionParameter

DECLINE: ExtensionParameter = ("decline", None)


@attrs.frozen
class FakeExtension:
    """A negotiated extension: its name and the parameters it was agreed with."""

    name: str
    params: tuple[ExtensionParameter, ...] = ()
    tag: str = ""


@attrs.define
class FakeClientFactory:
    """Offers ``offer``; declines answers with ``DECLINE``, or all of them if ``refuse``."""

    name: str
    offer: list[ExtensionParameter] = attrs.Factory(list)
    tag: str = ""
    refuse: bool = False
    seen: list[tuple[list[ExtensionParameter], list[FakeExtension]]] = attrs.Factory(list)

    def get_request_params(self) -> list[ExtensionParameter]:
        return list(self.offer)

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[FakeExtension]
    ) -> FakeExtension:
        self.seen.append((list(params), list(accepted_extensions)))
        if self.refuse or DECLINE in params:
            raise NegotiationError(f"{self.name}: cannot accept {list(params)!r}")
        return FakeExtension(self.name, tuple(params), self.tag)


@attrs.define
class FakeServerFactory:
    """Declines offers with ``DECLINE``; answers ``answer``, or echoes the offer."""

    name: str
    answer: list[ExtensionParameter] | None = None
    tag: str = ""
    seen: list[tuple[list[ExtensionParameter], list[FakeExtension]]] = attrs.Factory(list)

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted_extensions: Sequence[FakeExtension]
    ) -> tuple[list[ExtensionParameter], FakeExtension]:
        self.seen.append((list(params), list(accepted_extensions)))
        if DECLINE in params:
            raise NegotiationError(f"{self.name}: cannot accept {list(params)!r}")
        answer = list(params) if self.answer is None else list(self.answer)
        return answer, FakeExtension(self.name, tuple(answer), self.tag)
