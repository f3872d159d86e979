"""Every option is a keyword argument; options= beside a setting is a TypeError; sharing built options."""

from __future__ import annotations

import inspect
import math
import re
from typing import get_type_hints

import attrs
import pytest
import trio

import ws
import ws.testing
from ws.transports import MemoryListener
from ws.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from ws.options import _CLIENT_BY_ARGS, _CLIENT_OPTIONS, _OPTIONS_KEPT, make_client_options

CLIENT_FIELDS = {field.name for field in attrs.fields(ws.ClientOptions)}
SERVER_FIELDS = {field.name for field in attrs.fields(ws.ServerOptions)}
TIMEOUTS = {"connect_timeout", "disconnect_timeout"}


def keywords(function: object, settings: type) -> set[str]:
    """The settings a function takes: its named keyword parameters and its **settings TypedDict."""
    assert callable(function)
    parameters = inspect.signature(function).parameters
    named = {name for name, parameter in parameters.items() if parameter.kind is not parameter.VAR_KEYWORD}
    return named | set(get_type_hints(settings))


@pytest.mark.parametrize(
    "function",
    [ws.open_websocket, ws.open_websocket_url, ws.testing.MemoryWebSocketServer.open_websocket],
)
def test_every_client_option_is_a_keyword_of_the_high_level_clients(
    function: object,
) -> None:
    assert CLIENT_FIELDS - keywords(function, ws.ClientSettings) == set()


@pytest.mark.parametrize(
    "function",
    [
        ws.connect_websocket,
        ws.connect_websocket_url,
        ws.wrap_client_stream,
        ws.testing.MemoryWebSocketServer.connect_websocket,
    ],
)
def test_every_client_option_but_the_timeouts_is_a_keyword_of_the_low_level_clients(
    function: object,
) -> None:
    assert CLIENT_FIELDS - keywords(function, ws.ClientSettings) == TIMEOUTS


@pytest.mark.parametrize(
    "function",
    [ws.serve_websocket, ws.serve_websocket_unix, ws.WebSocketServer.__init__, ws.testing.open_memory_server],
)
def test_every_server_option_is_a_keyword_of_the_servers(function: object) -> None:
    assert SERVER_FIELDS - keywords(function, ws.ServerSettings) == set()


def test_the_settings_typeddicts_name_only_option_fields() -> None:
    assert set(get_type_hints(ws.ClientSettings)) <= CLIENT_FIELDS
    assert set(get_type_hints(ws.ServerSettings)) <= SERVER_FIELDS


def test_signature_defaults_print_as_plain_values() -> None:
    """The defaults that tell "not given" apart still read as trio-websocket's numbers."""
    parameters = inspect.signature(ws.open_websocket_url).parameters
    assert repr(parameters["message_queue_size"].default) == "1"
    assert repr(parameters["max_message_size"].default) == "1048576"
    assert repr(parameters["connect_timeout"].default) == "60"
    assert repr(parameters["compression"].default) == "'deflate'"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"ping_interval": None}, "ping_interval"),
        ({"message_queue_size": 1}, "message_queue_size"),  # the default value, given
        ({"compression": None}, "compression"),
        ({"max_message_size": 10}, "max_message_size"),
        ({"user_agent_header": "x"}, "user_agent_header"),
    ],
)
def test_options_beside_a_setting_is_a_type_error(extra: dict[str, object], named: str) -> None:
    with pytest.raises(TypeError, match=rf"open_websocket_url\(\) got options= and also {named}\b"):
        ws.open_websocket_url("ws://localhost/", options=ws.ClientOptions(), **extra)  # type: ignore[arg-type]


async def test_options_beside_a_setting_is_a_type_error_on_servers() -> None:
    async def handler(request: ws.WebSocketRequest) -> None:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match=r"serve_websocket\(\) got options= and also ping_timeout"):
        await ws.serve_websocket(
            handler, "127.0.0.1", 0, None, options=ws.ServerOptions(), ping_timeout=3
        )
    with pytest.raises(TypeError, match=r"WebSocketServer\(\) got options= and also origins"):
        ws.WebSocketServer(
            handler, [MemoryListener()], options=ws.ServerOptions(), origins=[None]
        )
    with pytest.raises(TypeError, match=r"open_websocket_pair\(\) got options= and also subprotocols"):
        async with ws.testing.open_websocket_pair(
            subprotocols=["chat"], client_options=ws.ClientOptions()
        ):
            raise AssertionError("not reached")


def test_an_unknown_setting_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\): ping_intervall\b.*ClientOptions"):
        ws.open_websocket_url("ws://localhost/", ping_intervall=3)  # type: ignore[call-arg]


async def test_the_low_level_functions_take_no_timeouts() -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match=r"sets no timeouts of its own.*cancel scope"):
            await ws.connect_websocket_url(
                nursery, "ws://localhost/", connect_timeout=3  # type: ignore[call-arg]
            )


async def test_a_setting_as_keyword_reaches_the_connection() -> None:
    """ping_interval=None, as the README writes it, turns keepalive off on both sides."""
    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        await connection.send_message(repr(request._options.ping_interval))

    async with ws.testing.open_memory_server(handler, ping_interval=None, max_fragments=7) as server:
        assert server.server._options.ping_interval is None
        assert server.server._options.max_fragments == 7
        async with server.open_websocket("/", ping_interval=None, message_queue_bytes=4096) as client:
            assert await client.get_message() == "None"


def test_the_same_arguments_give_the_same_frozen_options() -> None:
    """Equal keyword arguments share one ClientOptions; any difference builds another."""
    first = make_client_options("f", None, {"max_message_size": 1000, "compression": None}, {})
    again = make_client_options("f", None, {"max_message_size": 1000, "compression": None}, {})
    assert again is first
    assert first.max_message_size == 1000 and first.compression is None
    other = make_client_options("f", None, {"max_message_size": 1001}, {})
    assert other is not first and other.max_message_size == 1001
    factory = ClientPerMessageDeflateFactory(client_max_window_bits=10)
    with_factory = make_client_options("f", None, {"compression": factory}, {})
    assert with_factory.compression is factory
    assert make_client_options("f", None, {"compression": factory}, {}) is with_factory
    keepalive_off = make_client_options("f", None, {}, {"ping_interval": None})
    assert keepalive_off.ping_interval is None and keepalive_off is not first


def test_unhashable_arguments_are_built_each_time() -> None:
    one = make_client_options("f", None, {"subprotocols": ["chat"]}, {})
    two = make_client_options("f", None, {"subprotocols": ["chat"]}, {})
    assert one is not two and one.subprotocols == two.subprotocols == ("chat",)


def test_the_low_level_options_have_no_timeouts_and_the_cache_stays_small() -> None:
    low = make_client_options("f", None, {}, {}, timeouts=False)
    assert low.connect_timeout == low.disconnect_timeout == math.inf
    for timeout in range(3 * _OPTIONS_KEPT):
        built = make_client_options("f", None, {"connect_timeout": timeout}, {})
        assert built.connect_timeout == timeout
    assert len(_CLIENT_OPTIONS) <= _OPTIONS_KEPT and len(_CLIENT_BY_ARGS) <= _OPTIONS_KEPT


def test_option_values_are_checked() -> None:
    with pytest.raises(TypeError, match="origins is a list"):
        ws.ServerOptions(origins="https://example.com")
    with pytest.raises(TypeError, match="origins holds str, compiled patterns or None"):
        ws.ServerOptions(origins=[b"https://example.com"])  # type: ignore[list-item]
    assert ws.ServerOptions(origins=["a", re.compile("b"), None]).origins is not None
    with pytest.raises(ValueError, match="CR, LF"):
        ws.ServerOptions(server_header="x\r\nSet-Cookie: a")
    with pytest.raises(TypeError, match="logging.Logger"):
        ws.ClientOptions(logger="ws")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="process_request takes async callables"):
        ws.ServerOptions(process_request=[None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="'log', 'raise'"):
        ws.ServerOptions(handler_errors="ignore")  # type: ignore[arg-type]
