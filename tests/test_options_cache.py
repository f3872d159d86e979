"""make_client_options shares the options built from the same keyword arguments."""

from __future__ import annotations

import ws
from ws.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from ws.options import _CLIENT_OPTIONS, _CLIENT_OPTIONS_KEPT, make_client_options


def test_the_same_arguments_give_the_same_frozen_options() -> None:
    """Equal keyword arguments share one ClientOptions; any difference builds another."""
    first = make_client_options(None, max_message_size=1000, compression=None)
    assert make_client_options(None, max_message_size=1000, compression=None) is first
    assert first.max_message_size == 1000 and first.compression is None
    other = make_client_options(None, max_message_size=1001, compression=None)
    assert other is not first and other.max_message_size == 1001
    factory = ClientPerMessageDeflateFactory(client_max_window_bits=10)
    with_factory = make_client_options(None, compression=factory)
    assert with_factory.compression is factory
    assert make_client_options(None, compression=factory) is with_factory


def test_subprotocols_and_headers_are_never_shared() -> None:
    """Options with subprotocols or extra headers are built each time, from what was given."""
    one = make_client_options(None, subprotocols=["chat"])
    two = make_client_options(None, subprotocols=["chat"])
    assert one is not two and one.subprotocols == two.subprotocols == ("chat",)
    three = make_client_options(None, extra_headers=[("x-a", "1")])
    assert three is not make_client_options(None, extra_headers=[("x-a", "1")])


def test_given_options_win_and_the_cache_stays_small() -> None:
    """An options object passed in is returned as is; the cache keeps a bounded number."""
    options = ws.ClientOptions(connect_timeout=3)
    assert make_client_options(options, connect_timeout=99) is options
    for timeout in range(3 * _CLIENT_OPTIONS_KEPT):
        assert make_client_options(None, connect_timeout=timeout).connect_timeout == timeout
    assert len(_CLIENT_OPTIONS) <= _CLIENT_OPTIONS_KEPT
