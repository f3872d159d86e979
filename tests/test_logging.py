"""The ``ws`` logger: what each connection logs, at which level, with its id."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator

import pytest
import trio
import trio.testing

import ws
import ws.testing
from ws._logging import FrameLoggingProtocol, Log, format_head
from ws.builder import build_connection
from ws.connection import reader_of
from ws.connection._connection import sending_parts
from ws.protocol import Protocol, Side
from ws.transports.memory import memory_pair

from tests.hostile._raw import (
    BINARY,
    CLOSE,
    TEXT,
    close_payload,
    frame,
    parse_head,
    upgrade_request,
    upgrade_response,
)

_CLOSED = re.compile(
    r"closed (?P<code>\d+) \((?P<name>\w+)\), reason (?P<reason>'.*'), "
    r"by (?P<side>local|peer|abnormal), after (?P<duration>[\d.]+) s"
)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture every record of the ``ws`` logger, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="ws")
    yield caplog


def of(caplog: pytest.LogCaptureFixture, connection_id: str) -> list[logging.LogRecord]:
    """The records about one connection, in order."""
    return [
        record
        for record in caplog.records
        if getattr(record, "ws_connection_id", None) == connection_id
    ]


def messages(caplog: pytest.LogCaptureFixture, connection_id: str) -> list[str]:
    """The messages about one connection, in order, without the id prefix."""
    prefix = f"[{connection_id}] "
    out = []
    for record in of(caplog, connection_id):
        text = record.getMessage()
        assert text.startswith(prefix), text
        out.append(text[len(prefix) :])
    return out


def closed_record(caplog: pytest.LogCaptureFixture, connection_id: str) -> re.Match[str]:
    """The one "closed" record of a connection, parsed; it is at INFO."""
    found = [
        (record, match)
        for record in of(caplog, connection_id)
        if (match := _CLOSED.search(record.getMessage())) is not None
    ]
    assert len(found) == 1, [record.getMessage() for record, _ in found]
    record, match = found[0]
    assert record.levelno == logging.INFO
    return match


def max_level(caplog: pytest.LogCaptureFixture) -> int:
    """The highest level among the records of ws (0 without any)."""
    return max(
        (record.levelno for record in caplog.records if record.name.startswith("ws")), default=0
    )


async def echo_then_close(request: ws.WebSocketRequest) -> None:
    """Accept, echo one message, wait 5 s, close with 4000 "bye"."""
    connection = await request.accept()
    await connection.send_message(await connection.get_message())
    await trio.sleep(5)
    await connection.aclose(4000, "bye")


# -- INFO: accepted, connected, closed ------------------------------------------------


async def test_accepted_connected_and_closed_carry_the_ids(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """Server and client each log their connection's start and end at INFO, with its id."""
    logs.set_level(logging.INFO, logger="ws")
    accepted: list[ws.WebSocketConnection] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        await connection.send_message(await connection.get_message())
        await trio.sleep(5)
        await connection.aclose(4000, "bye")

    async with ws.testing.open_memory_server(handler) as server:
        async with server.open_websocket("/chat?room=1", compression=None) as client:
            await client.send_message("hi")
            assert await client.get_message() == "hi"
            with pytest.raises(ws.ConnectionClosed):
                await client.get_message()
    server_conn = accepted[0]
    assert client.id != server_conn.id
    assert re.fullmatch(r"ws-[0-9a-f]+", client.id) and re.fullmatch(r"ws-[0-9a-f]+", server_conn.id)

    server_messages = messages(logs, server_conn.id)
    assert any(m.startswith("accepted /chat?room=1 from ") for m in server_messages), server_messages
    closed = closed_record(logs, server_conn.id)
    assert (closed["code"], closed["name"], closed["reason"], closed["side"]) == (
        "4000", "PRIVATE_RESERVED", "'bye'", "local",
    )
    assert float(closed["duration"]) == 5.0  # virtual time: built at 0, closed at 5

    client_messages = messages(logs, client.id)
    assert client_messages[0] == (
        "connected to localhost/chat?room=1 (remote memory-1:server, subprotocol None, extensions none)"
    )
    closed = closed_record(logs, client.id)
    assert (closed["code"], closed["reason"], closed["side"]) == ("4000", "'bye'", "peer")
    assert float(closed["duration"]) == 5.0
    assert all(record.levelno == logging.INFO for record in logs.records if record.name == "ws")


async def test_closed_by_the_peer_abruptly_is_abnormal(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """A stream that ends without a close frame logs 1006, "by abnormal", with the cause."""
    logs.set_level(logging.INFO, logger="ws")
    async with ws.testing.open_websocket_pair(compression=None) as (client, server):
        await trio.aclose_forcefully(client.stream)
        with pytest.raises(ws.ConnectionClosed):
            await server.get_message()
        await reader_of(server).wait_done()
    closed = closed_record(logs, server.id)
    assert (closed["code"], closed["name"], closed["side"]) == ("1006", "ABNORMAL_CLOSURE", "abnormal")
    closed = closed_record(logs, client.id)
    assert closed["code"] == "1006" and closed["side"] == "abnormal"
    assert max_level(logs) == logging.INFO


async def test_a_connection_whose_reader_never_ran_logs_its_close_once(
    logs: pytest.LogCaptureFixture,
) -> None:
    """aclose() without a reader task logs the "closed" record itself, once."""
    logs.set_level(logging.INFO, logger="ws")
    ours, theirs = trio.testing.memory_stream_pair()
    connection = build_connection(
        ours,
        Side.CLIENT,
        options=ws.ClientOptions(),
        extensions=[],
        trailing_data=b"",
        path="/",
        local="here",
        remote="there",
        subprotocol=None,
        handshake_headers=[],
        close_timeout=1,
    )
    await connection.aclose(1001, "leaving")
    closed = closed_record(logs, connection.id)
    assert (closed["code"], closed["reason"], closed["side"]) == ("1001", "'leaving'", "local")
    # A second aclose() returns at once (it used to wait for a reader that never ran).
    with trio.fail_after(1):
        await connection.aclose()
    assert len([r for r in logs.records if "closed" in r.getMessage()]) == 1
    await theirs.aclose()


async def test_keepalive_timeout_is_logged_at_info(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """No pong within ping_timeout: an INFO record says so, then the 1011 close."""
    logs.set_level(logging.INFO, logger="ws")
    client_options = ws.ClientOptions(ping_interval=5, ping_timeout=3, compression=None)
    # The server's reader stalls on an unread message (queue of 0): it answers nothing.
    server_options = ws.ServerOptions(message_queue_size=0, ping_interval=None, compression=None)
    async with ws.testing.open_websocket_pair(
        client_options=client_options, server_options=server_options
    ) as (client, server):
        await client.send_message("stalls the server's reader")
        with pytest.raises(ws.ConnectionClosed):
            await client.get_message()
    client_messages = messages(logs, client.id)
    timeouts = [m for m in client_messages if m.startswith("keepalive timeout")]
    assert timeouts == ["keepalive timeout: no pong within 3 s, closing with 1011"]
    assert client_messages.index(timeouts[0]) < len(client_messages) - 1  # before "closed"
    closed = closed_record(logs, client.id)
    assert (closed["code"], closed["reason"], closed["side"]) == (
        "1011", "'keepalive ping timeout'", "local",
    )
    assert float(closed["duration"]) == 8.0  # ping at 5, no pong by 8
    assert not [m for m in messages(logs, server.id) if "keepalive" in m]
    assert max_level(logs) == logging.INFO


# -- DEBUG: frames, decided when the connection is built ------------------------------


async def test_frames_are_logged_when_debug_is_on_at_build_time(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """DEBUG on as the connection is built: every frame is logged both ways, no payload."""
    async with ws.testing.open_websocket_pair(compression=None) as (client, server):
        assert type(sending_parts(client)[0]) is FrameLoggingProtocol
        await client.send_message("hello")
        assert await server.get_message() == "hello"
        await server.send_message(b"\x00" * 300)
        assert await client.get_message() == b"\x00" * 300
        await client.ping(b"abc")
    client_messages = messages(logs, client.id)
    server_messages = messages(logs, server.id)
    assert "sending TEXT frame, 5 bytes, fin" in client_messages
    assert "received TEXT frame, 5 bytes, fin" in server_messages
    assert "sending BINARY frame, 300 bytes, fin" in server_messages
    assert "received BINARY frame, 300 bytes, fin" in client_messages
    assert "sending PING frame, 3 bytes, fin" in client_messages
    assert "received PING frame, 3 bytes, fin" in server_messages
    assert "sending PONG frame, 3 bytes, fin" in server_messages
    assert "received PONG frame, 3 bytes, fin" in client_messages
    assert "sending CLOSE frame, 2 bytes, fin" in client_messages  # 1000, no reason
    assert "received CLOSE frame, 2 bytes, fin" in server_messages
    frame_records = [r for r in logs.records if "frame," in r.getMessage()]
    assert frame_records and all(r.levelno == logging.DEBUG for r in frame_records)
    assert not [r for r in frame_records if "hello" in r.getMessage()]


async def test_compressed_frames_are_marked(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """A received frame compressed by permessage-deflate says so, with its size on the wire."""
    async with ws.testing.open_websocket_pair() as (client, server):
        await client.send_message("a" * 1000)
        assert await server.get_message() == "a" * 1000
    assert "sending TEXT frame, 1000 bytes, fin" in messages(logs, client.id)
    received = [m for m in messages(logs, server.id) if m.startswith("received TEXT frame")]
    assert len(received) == 1
    size = int(received[0].split(", ")[1].split()[0])
    assert size < 1000 and received[0].endswith(", fin, compressed")


async def test_frames_are_not_logged_when_debug_was_off_at_build_time(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """DEBUG off as the connection is built: plain Protocol, and no frame record ever after."""
    logger = logging.getLogger("ws")
    logger.setLevel(logging.INFO)  # the capture handler still takes DEBUG
    async with ws.testing.open_websocket_pair(compression=None) as (client, server):
        assert type(sending_parts(client)[0]) is Protocol
        assert type(sending_parts(server)[0]) is Protocol
        logger.setLevel(logging.DEBUG)  # too late for these connections
        await client.send_message("hello")
        assert await server.get_message() == "hello"
        await client.ping()
    assert not [r for r in logs.records if "frame," in r.getMessage()]
    # DEBUG records other than frames do come through from now on: the capture works.
    logging.getLogger("ws").debug("probe")
    assert logs.records[-1].getMessage() == "probe"


async def test_frame_logging_stops_when_debug_is_turned_off(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """A connection built with DEBUG on logs frames only while DEBUG stays on."""
    async with ws.testing.open_websocket_pair(compression=None) as (client, server):
        logging.getLogger("ws").setLevel(logging.INFO)
        await client.send_message("quiet")
        assert await server.get_message() == "quiet"
        logging.getLogger("ws").setLevel(logging.DEBUG)
        await client.send_message("loud")
        assert await server.get_message() == "loud"
    client_messages = messages(logs, client.id)
    assert client_messages.count("sending TEXT frame, 5 bytes, fin") == 0
    assert client_messages.count("sending TEXT frame, 4 bytes, fin") == 1


def test_broadcast_frames_are_logged() -> None:
    """A frame serialized for a broadcast is logged as it is queued."""
    caught: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage())

    logger = logging.getLogger("test_logging.broadcast")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(Catch())
    protocol = FrameLoggingProtocol(Side.SERVER, log=Log(logger, "ws-b"))
    protocol.send_serialized(b"\x81\x02hi")
    assert protocol.data_to_send() == [b"\x81\x02hi"]
    assert caught == ["[ws-b] sending a frame made for a broadcast, 4 bytes with its header"]


# -- DEBUG: handshake heads, redacted ---------------------------------------------------

_SECRETS = ("Bearer top-secret-token", "session=cookie-secret", "sid=set-cookie-secret", "proxy-secret")


async def test_heads_are_logged_with_credentials_redacted(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """Request and response heads appear at DEBUG; Authorization and cookies never do."""

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept(extra_headers=[("Set-Cookie", "sid=set-cookie-secret")])
        await connection.get_message()

    async with ws.testing.open_memory_server(handler) as server:
        async with server.open_websocket(
            "/private",
            extra_headers=[
                ("Authorization", "Bearer top-secret-token"),
                ("Cookie", "session=cookie-secret"),
                ("Proxy-Authorization", "proxy-secret"),
                ("X-Visible", "shown"),
            ],
        ) as client:
            await client.send_message("bye")
    heads = [r for r in logs.records if r.getMessage().split("\n")[0].endswith(("request:", "response:"))]
    assert heads and all(record.levelno == logging.DEBUG for record in heads)
    client_heads = [r.getMessage() for r in of(logs, client.id) if "\n" in r.getMessage()]
    request, response = client_heads
    assert request.startswith(f"[{client.id}] request:\nGET /private HTTP/1.1\n")
    assert "  X-Visible: shown" in request
    assert "  Authorization: <redacted>" in request
    assert "  Cookie: <redacted>" in request
    assert "  Proxy-Authorization: <redacted>" in request
    assert response.startswith(f"[{client.id}] response:\nHTTP/1.1 101\n")
    assert "  set-cookie: <redacted>" in response
    for record in logs.records:
        text = record.getMessage() + repr(record.__dict__)
        for secret in _SECRETS:
            assert secret not in text


def test_format_head_redacts_raw_and_parsed_heads() -> None:
    """Both forms of a head lose the values of credentials and cookies, whatever their case."""
    raw = b"GET / HTTP/1.1\r\nHost: a\r\nAUTHORIZATION: Basic eHl6\r\nset-COOKIE: k=v\r\n\r\n"
    assert format_head(raw) == (
        "GET / HTTP/1.1\n  Host: a\n  AUTHORIZATION: <redacted>\n  set-COOKIE: <redacted>"
    )
    fields = [(b"host", b"a"), (b"cookie", b"k=v"), (b"x-other", b"Basic eHl6")]
    assert format_head(fields, "HTTP/1.1 101") == (
        "HTTP/1.1 101\n  host: a\n  cookie: <redacted>\n  x-other: Basic eHl6"
    )


async def test_a_rejection_is_info_on_the_client(
    logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """The server says 403: the client logs it at INFO (never ERROR) and raises ConnectionRejected."""

    async def handler(request: ws.WebSocketRequest) -> None:
        await request.reject(403, extra_headers=[("Set-Cookie", "sid=set-cookie-secret")])

    async with ws.testing.open_memory_server(handler) as server:
        with pytest.raises(ws.ConnectionRejected):
            async with server.open_websocket("/", extra_headers=[("Cookie", "session=cookie-secret")]):
                pass  # pragma: no cover
    rejected = [r for r in logs.records if r.getMessage().endswith("rejected by the server: 403")]
    assert len(rejected) == 1 and rejected[0].levelno == logging.INFO
    response = [r.getMessage() for r in logs.records if "response:\nHTTP/1.1 403" in r.getMessage()]
    assert len(response) == 1 and "set-cookie: <redacted>" in response[0]
    assert max_level(logs) == logging.INFO
    assert not [r for r in logs.records for s in _SECRETS if s in r.getMessage()]


# -- logger= ----------------------------------------------------------------------------


async def test_a_custom_logger_takes_every_record(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """logger= on both sides: the records go there, none to the ``ws`` logger."""
    caplog.set_level(logging.DEBUG)
    mine = logging.getLogger("test_logging.mine")
    accepted: list[ws.WebSocketConnection] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        await connection.get_message()

    async with ws.testing.open_memory_server(handler, logger=mine) as server:
        async with server.open_websocket("/", logger=mine) as client:
            await client.send_message("x")
    assert not [r for r in caplog.records if r.name == "ws"]
    client_messages = messages(caplog, client.id)
    server_messages = messages(caplog, accepted[0].id)
    assert all(r.name == "test_logging.mine" for r in of(caplog, client.id))
    assert all(r.name == "test_logging.mine" for r in of(caplog, accepted[0].id))
    assert client_messages[0].startswith("request:\nGET / HTTP/1.1\n")
    assert any(m.startswith("connected to ") for m in client_messages)
    assert any(m.startswith("accepted / from ") for m in server_messages)
    assert any(m.startswith("sending TEXT frame") for m in client_messages)
    closed_record(caplog, client.id)
    closed_record(caplog, accepted[0].id)


async def test_a_logger_adapter_keeps_its_extra_and_the_id(
    caplog: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """A LoggerAdapter receives the records with its own extra fields and ws_connection_id."""
    caplog.set_level(logging.INFO)
    adapter = logging.LoggerAdapter(logging.getLogger("test_logging.adapted"), {"tenant": "t1"})
    client_options = ws.ClientOptions(logger=adapter, compression=None)
    async with ws.testing.open_websocket_pair(client_options=client_options) as (client, server):
        await client.send_message("x")
        assert await server.get_message() == "x"
    records = of(caplog, client.id)
    assert [r.getMessage().split(" ")[1] for r in records] == ["connected", "closed"]
    for record in records:
        assert record.name == "test_logging.adapted"
        assert getattr(record, "tenant") == "t1"
    # The records point at the code that logged, not at ws._logging or the adapter.
    assert [r.pathname.rpartition("/")[2] for r in records] == ["client.py", "_reader.py"]


# -- over real TCP -------------------------------------------------------------------------


async def test_records_over_tcp(logs: pytest.LogCaptureFixture) -> None:
    """Over loopback TCP, both ends log their start and end with the connection's id."""
    logs.set_level(logging.INFO, logger="ws")
    accepted: list[ws.WebSocketConnection] = []
    done = trio.Event()

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        async for message in connection:
            await connection.send_message(message)
        done.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(ws.serve_websocket, handler, "127.0.0.1", 0, None)
            assert isinstance(server, ws.WebSocketServer)
            port = server.port
            async with ws.open_websocket_url(f"ws://127.0.0.1:{port}/tcp") as client:
                await client.send_message("over tcp")
                assert await client.get_message() == "over tcp"
            await done.wait()
            await reader_of(accepted[0]).wait_done()
            nursery.cancel_scope.cancel()
    server_conn = accepted[0]
    connected = messages(logs, client.id)[0]
    assert connected.startswith(f"connected to 127.0.0.1:{port}/tcp (remote 127.0.0.1:{port}"), connected
    assert any(m.startswith("accepted /tcp from ") for m in messages(logs, server_conn.id))
    closed = closed_record(logs, client.id)
    assert (closed["code"], closed["side"]) == ("1000", "local")
    closed = closed_record(logs, server_conn.id)
    assert (closed["code"], closed["side"]) == ("1000", "peer")
    assert max_level(logs) == logging.INFO


# -- nothing a peer does logs above INFO ------------------------------------------------

RawClient = Callable[[trio.abc.Stream], Awaitable[None]]


async def _read_to_eof(stream: trio.abc.Stream) -> bytes:
    data = bytearray()
    try:
        while chunk := await stream.receive_some(65536):
            data += chunk
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    return bytes(data)


async def _read_head(stream: trio.abc.Stream) -> bytes:
    head = bytearray()
    while b"\r\n\r\n" not in head:
        chunk = await stream.receive_some(65536)
        assert chunk, f"EOF before the end of the head: {bytes(head)!r}"
        head += chunk
    return bytes(head)


def _sends(frames: bytes, *, then_close: bool = False) -> RawClient:
    async def attack(stream: trio.abc.Stream) -> None:
        await stream.send_all(upgrade_request())
        assert (await _read_head(stream)).startswith(b"HTTP/1.1 101 ")
        await stream.send_all(frames)
        if then_close:
            await stream.aclose()
            return
        await _read_to_eof(stream)

    return attack


async def _gone_before_the_answer(stream: trio.abc.Stream) -> None:
    await stream.send_all(upgrade_request())
    await stream.aclose()


_HOSTILE_CLIENTS: dict[str, tuple[RawClient, str | None]] = {
    "unmasked frame": (_sends(frame(TEXT, b"hi", mask=None)), "1002"),
    "invalid UTF-8": (_sends(frame(TEXT, b"\xff\xfe")), "1007"),
    "reserved opcode": (_sends(frame(3, b"")), "1002"),
    "RSV bits without an extension": (_sends(frame(TEXT, b"hi", rsv=2)), "1002"),
    "message over max_message_size": (_sends(frame(BINARY, b"x" * 2000)), "1009"),
    "invalid close code": (_sends(frame(CLOSE, close_payload(999))), "1002"),
    "cut mid-frame": (_sends(frame(BINARY, b"x" * 10, length=100), then_close=True), "1006"),
    "not HTTP": (lambda stream: stream.send_all(b"\x16\x03\x01 hello?\r\n\r\n"), None),
    "gone during the request": (lambda stream: stream.send_all(b"GET / HTTP/1.1\r\nHo"), None),
    "gone before the answer": (_gone_before_the_answer, None),
}


@pytest.mark.parametrize("scenario", sorted(_HOSTILE_CLIENTS))
async def test_a_hostile_client_logs_nothing_above_info(
    scenario: str, logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """Protocol errors and abrupt ends from a client: at most INFO, and the close code logged."""
    attack, code = _HOSTILE_CLIENTS[scenario]
    accepted: list[ws.WebSocketConnection] = []

    async def handler(request: ws.WebSocketRequest) -> None:
        connection = await request.accept()
        accepted.append(connection)
        async for _ in connection:
            pass  # pragma: no cover - the attacks send no valid message

    async with ws.testing.open_memory_server(
        handler, max_message_size=1000, compression=None
    ) as server:
        connected = await server.listener.connect()
        with trio.fail_after(60):
            await attack(connected.stream)
            await trio.sleep(30)  # virtual: every close timeout has run out
        await trio.aclose_forcefully(connected.stream)
    assert max_level(logs) <= logging.INFO
    if code is not None:
        closed = closed_record(logs, accepted[0].id)
        assert closed["code"] == code
        assert closed["side"] == ("abnormal" if code == "1006" else "local")


async def _raw_server(stream: trio.abc.Stream, answer: Callable[[str], bytes]) -> None:
    _, fields = parse_head(await _read_head(stream))
    key = fields[b"sec-websocket-key"][0].decode()
    await stream.send_all(answer(key))
    with trio.move_on_after(5):  # virtual time; then hang up
        await _read_to_eof(stream)
    await trio.aclose_forcefully(stream)


_HOSTILE_SERVERS: dict[str, tuple[Callable[[str], bytes], str | None]] = {
    "wrong accept key": (lambda key: upgrade_response(key, accept="bm90IGl0"), None),
    "not HTTP": (lambda key: b"\x00\x01garbage\r\n\r\n", None),
    "masked frame": (lambda key: upgrade_response(key) + frame(TEXT, b"hi"), "1002"),
    "fragment out of sequence": (
        lambda key: upgrade_response(key) + frame(0, b"x", mask=None),
        "1002",
    ),
    "cut mid-frame": (
        lambda key: upgrade_response(key) + frame(TEXT, b"x", length=50, mask=None),
        "1006",
    ),
}


@pytest.mark.parametrize("scenario", sorted(_HOSTILE_SERVERS))
async def test_a_hostile_server_logs_nothing_above_info(
    scenario: str, logs: pytest.LogCaptureFixture, autojump_clock: trio.testing.MockClock
) -> None:
    """Bad handshakes and bad frames from a server: at most INFO on the client."""
    answer, code = _HOSTILE_SERVERS[scenario]
    client_end, server_end = memory_pair(name="hostile")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_raw_server, server_end.stream, answer)
        try:
            client = await ws.wrap_client_stream(
                nursery, client_end.stream, "localhost", "/", compression=None
            )
        except ws.HandshakeError:
            assert code is None
            handshake_failed = [r for r in logs.records if "opening handshake failed" in r.getMessage()]
            assert len(handshake_failed) == 1 and handshake_failed[0].levelno == logging.INFO
        else:
            assert code is not None
            with pytest.raises(ws.ConnectionClosed):
                await client.get_message()
            await reader_of(client).wait_done()
            closed = closed_record(logs, client.id)
            assert closed["code"] == code
        await trio.aclose_forcefully(client_end.stream)
        await trio.aclose_forcefully(server_end.stream)
    assert max_level(logs) <= logging.INFO
