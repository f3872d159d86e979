"""The extension interface (RFC 6455 section 9).

Two kinds of objects take part:

* A *factory* negotiates during the opening handshake. A
  :class:`ClientExtensionFactory` offers parameters and checks the server's
  answer; a :class:`ServerExtensionFactory` reads a client's offer and picks
  the parameters to accept. Factories are configuration: one factory serves
  any number of connections.
* An :class:`Extension` is what a negotiation produces for one connection: a
  stateful transform of the frames that connection sends and receives. It
  declares which RSV bits it owns (``rsv_mask``) so the frame parser accepts
  those bits and rejects the others.

The ``ws.handshake`` layer reaches factories only through the structural
``typing.Protocol``s of ``ws.handshake.hooks``, which these classes satisfy.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ws.errors import NegotiationError
from ws.frames.frame import Frame
from ws.typing import ExtensionName, ExtensionParameter

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "NegotiationError",
    "ServerExtensionFactory",
]


class Extension(abc.ABC):
    """A negotiated extension: a per-connection frame transform.

    ``encode`` sees every frame the connection sends and ``decode`` every
    frame it receives, data and control frames alike, in wire order.
    Extensions are applied in the order they were negotiated when sending
    and in reverse order when receiving.
    """

    #: The extension token, as it appears in ``Sec-WebSocket-Extensions``.
    name: ExtensionName

    #: The RSV bits this extension may set (a mask of ws.frames.RSV1/2/3).
    rsv_mask: int = 0

    #: Whether :meth:`decode` leaves every frame of a message untouched when
    #: the message's first frame has none of the RSV bits set, as
    #: permessage-deflate does with uncompressed messages. When all the
    #: negotiated extensions say so, the protocol validates the UTF-8 of
    #: such text messages while their frames are still arriving.
    passes_plain_messages: bool = False

    @abc.abstractmethod
    def encode(self, frame: Frame) -> Frame:
        """Transform a frame we are about to send.

        Args:
            frame: The outgoing frame, unmasked.

        Returns:
            The frame to put on the wire (possibly ``frame`` itself).
        """

    def encode_message(self, frame: Frame, compress: bool) -> Frame:
        """Transform the first frame of a message whose sender chose whether to compress it.

        ``send_message(..., compress=True/False)`` sends the first frame of
        its message through this method instead of :meth:`encode`; the
        message's other frames, and every frame of a message sent with
        ``compress=None``, go through :meth:`encode`. An extension that
        compresses messages (permessage-deflate) overrides it to follow
        the choice for the whole message. The default ignores the choice
        and calls :meth:`encode`, so extensions written before it existed
        keep working unchanged.

        Args:
            frame: The first TEXT or BINARY frame of a message, unmasked.
            compress: ``True`` to compress the message even where the
                extension's own policy would not (e.g. below a size
                threshold); ``False`` to send it uncompressed.

        Returns:
            The frame to put on the wire (possibly ``frame`` itself).
        """
        return self.encode(frame)

    @abc.abstractmethod
    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Transform a frame we received.

        Args:
            frame: The incoming frame, unmasked.
            max_size: How many payload bytes the message this frame belongs
                to may still grow by, or ``None`` for no limit. An
                extension that expands data must stop expanding as soon as
                it passes this limit.

        Returns:
            The frame to hand to the protocol (possibly ``frame`` itself).

        Raises:
            ws.errors.MessageTooBig: The decoded payload would exceed ``max_size``.
            ws.errors.RemoteProtocolError: The frame is invalid for this extension.
        """


class ClientExtensionFactory(abc.ABC):
    """Offers an extension in a client's request and accepts the server's answer."""

    name: ExtensionName

    @abc.abstractmethod
    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters to offer in ``Sec-WebSocket-Extensions``."""

    @abc.abstractmethod
    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Build the connection's extension from the parameters the server accepted.

        Args:
            params: The parameters of this extension in the server's response.
            accepted_extensions: The extensions already negotiated (earlier in
                the response header).

        Raises:
            NegotiationError: The parameters are not acceptable; the client
                fails the handshake.
        """


class ServerExtensionFactory(abc.ABC):
    """Reads a client's offer and decides which parameters to accept."""

    name: ExtensionName

    @abc.abstractmethod
    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Accept one offer of this extension.

        Args:
            params: The parameters of one offer in the client's request.
            accepted_extensions: The extensions already accepted for this
                connection (earlier in the request header).

        Returns:
            The parameters to put in the response and the connection's extension.

        Raises:
            NegotiationError: This offer cannot be accepted; the server tries
                the client's next offer of this extension, if any.
        """
