"""Incompressible messages at the size limit pass whatever memLevel the sender deflates with."""

from __future__ import annotations

import os

import pytest

import ws
import ws.testing


@pytest.mark.parametrize("mem_level", [1, 5, 8, 9])
async def test_incompressible_message_at_the_limit(mem_level: int) -> None:
    """A 1 MiB random message (the default limit) arrives though deflate makes it longer."""
    payload = os.urandom(1024 * 1024)
    client_options = ws.ClientOptions(
        compression=ws.ClientPerMessageDeflateFactory(mem_level=mem_level)
    )
    async with ws.testing.open_websocket_pair(client_options=client_options) as (client, server):
        assert client.extensions
        await client.send_message(payload)
        assert await server.get_message() == payload


async def test_one_byte_over_the_limit_still_closes_with_1009() -> None:
    """The slack is on the wire size only: the inflated size limit stays exact."""
    server_options = ws.ServerOptions(max_message_size=1000)
    async with ws.testing.open_websocket_pair(server_options=server_options) as (client, server):
        await client.send_message(os.urandom(1000))
        assert len(await server.get_message()) == 1000
        await client.send_message(os.urandom(1001))
        with pytest.raises(ws.ConnectionClosed) as info:
            await client.get_message()
        assert info.value.reason.code == 1009
