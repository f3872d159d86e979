"""The chat example in headless Chromium: its page, served by ws, chats with a Python client.

The chat server of ``examples/chat/app.py`` runs in the test's Trio run and
serves its own page (through its ``process_request`` hook) with one script
added at the end: a probe that waits for a message from the Python client
to appear in the page's message list, then types an answer into the page's
form and submits it. So the answer the Python client gets has gone the
whole way: the server's broadcast, the page's WebSocket and rendering, the
page's form and its ``send``, and the server's broadcast back. The browser
connects from the page's own origin, which the server's Origin check lets in.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from pathlib import Path

import pytest
import trio

import ws
from examples.chat import app as chat
from tests.interop.harness import find_program, require, run_peer
from tests.interop.test_chromium import CHROMIUM_HINT, chromium_argv

#: Seconds for the whole run, Chromium's starts in fresh profiles included.
RUN_TIMEOUT = 75
#: Seconds for one Chromium start to load the page and join the room. On a
#: loaded machine a first start in a fresh profile has twice taken longer
#: than 35 s (and joined in about one second when run again), so a start that
#: does not join in time is given one more try, in a new profile; the
#: library's side is the same either way.
JOIN_TIMEOUT = 25
#: Seconds for one step once the browser is up.
STEP = 10
ROOM = "garden ✓"
HELLO = "hello from python ✓ <b>not bold</b>"

# Added to the page for the test only: when a message that contains the
# text of ?probe= appears in the list, answer it through the page's own form.
PROBE = b"""
<script>
'use strict';
(() => {
  const wanted = new URLSearchParams(location.search).get('probe');
  const list = document.getElementById('messages');
  new MutationObserver((records) => {
    for (const record of records) {
      for (const item of record.addedNodes) {
        if (item.className === 'theirs' && item.textContent.includes(wanted)) {
          document.getElementById('text').value = `browser got: ${item.textContent}`;
          document.getElementById('send').requestSubmit();
        }
      }
    }
  }).observe(list, { childList: true });
})();
</script>
"""


def page_with_probe() -> bytes:
    """The example's page with :data:`PROBE` before ``</body>``."""
    page = chat.PAGE_FILE.read_bytes()
    head, found, tail = page.rpartition(b"</body>")
    assert found, "the chat page has no </body>"
    return head + PROBE + found + tail


async def receive_json(connection: ws.WebSocketConnection, timeout: float = STEP) -> dict[str, object]:
    """The next message from the chat server, a JSON object."""
    with trio.fail_after(timeout):
        message = await connection.get_message()
    assert isinstance(message, str)
    data = json.loads(message)
    assert isinstance(data, dict)
    return data


@pytest.fixture
def chromium() -> str:
    """The Chromium program; skips when it is not installed."""
    program = find_program("chromium", "/usr/bin/chromium")
    require(program, "chromium", CHROMIUM_HINT)
    assert program is not None
    return program


async def test_the_chat_page_in_chromium_receives_a_broadcast_and_answers(
    chromium: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Chromium loads the chat page from ws, joins a room, gets a Python client's message, answers."""
    caplog.set_level(logging.INFO, logger="ws")  # on failure, shows what the server saw
    env = {**os.environ, "HOME": str(tmp_path)}  # keep Chromium out of the real home
    with trio.fail_after(RUN_TIMEOUT):
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        server = chat.make_server(listeners, "127.0.0.1", page=page_with_probe())
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            port = listeners[0].socket.getsockname()[1]
            room_url = f"ws://127.0.0.1:{port}/room/{urllib.parse.quote(ROOM)}"
            async with ws.open_websocket_url(room_url) as python:
                welcome = await receive_json(python)
                assert (welcome["room"], welcome["members"]) == (ROOM, 1)

                query = urllib.parse.urlencode({"room": ROOM, "probe": HELLO})
                for attempt in (1, 2):
                    profile = tmp_path / f"profile-{attempt}"
                    profile.mkdir()
                    argv = chromium_argv(chromium, profile, f"http://127.0.0.1:{port}/?{query}", None)
                    stderr = tmp_path / f"chromium-{attempt}.stderr"
                    async with run_peer(argv, stderr, env=env, capture_stdout=False):
                        try:
                            joined = await receive_json(python, timeout=JOIN_TIMEOUT)
                        except trio.TooSlowError:
                            if attempt == 2:
                                raise
                            print(f"Chromium did not join within {JOIN_TIMEOUT}s; starting it again")
                            continue
                        assert joined["type"] == "join" and joined["members"] == 2, joined
                        browser = joined["who"]

                        await python.send_message(HELLO)
                        answer = await receive_json(python)
                        assert answer == {
                            "type": "message",
                            "from": browser,
                            "text": f"browser got: {welcome['you']}: {HELLO}",
                        }
                        # The browser came in through the Origin check with the page's origin.
                        (page_connection,) = [c for c in server.connections if c.remote != python.local]
                        origin = dict(page_connection.handshake_headers).get(b"origin")
                        assert origin == f"http://127.0.0.1:{port}".encode()
                        break
            await server.aclose()
