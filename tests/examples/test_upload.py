"""examples/upload: a 20 MiB file streamed up, stored whole, its digest checked; the limits."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import trio

import ws
from examples.upload.client import upload
from tests.examples.programs import EXAMPLES, STEP, Program, run, running

SERVER = EXAMPLES / "upload" / "server.py"
CLIENT = EXAMPLES / "upload" / "client.py"

MIB = 1024 * 1024


async def server_url(server: Program) -> str:
    """The base URL the server printed on its first line."""
    line = await server.read_line()
    match = re.fullmatch(r"upload: listening on (ws://127\.0\.0\.1:\d+)", line)
    assert match is not None, line
    return match.group(1)


async def test_a_20_mib_file_arrives_whole_with_its_digest(tmp_path: Path) -> None:
    """The client streams 20 MiB; the stored file and both digests match; no .part file is left."""
    data = os.urandom(20 * MIB)
    source = tmp_path / "random data.bin"
    source.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    store = tmp_path / "store"
    async with running(SERVER, "--directory", str(store), "--port", "0", tmp_path=tmp_path) as server:
        url = await server_url(server)
        result = await run(CLIENT, str(source), "--server", url)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (
            f"uploaded random data.bin: {20 * MIB} bytes, sha256 {expected} (verified by the server)\n"
        )
        assert await server.read_line() == f"upload: stored random data.bin: {20 * MIB} bytes, sha256 {expected}"
    assert [path.name for path in store.iterdir()] == ["random data.bin"]
    assert (store / "random data.bin").read_bytes() == data


#: Upload names (as sent, percent-encoded) that must not become file names.
BAD_NAMES = ["..", "%2E%2E", "..%2Fescape", "%2Fetc%2Fpasswd", ".hidden", "a%5Cb", "a%00b"]


async def test_over_the_limit_or_an_unsafe_name_is_refused_and_leaves_no_file(tmp_path: Path) -> None:
    """Over --max-size: 1009 mid-stream; an unsafe name: 400; an exact fit and an empty file are stored."""
    source = tmp_path / "big.bin"
    source.write_bytes(b"\x00" * (2 * MIB))
    store = tmp_path / "store"
    args = ["--directory", str(store), "--port", "0", "--max-size", str(MIB)]
    async with running(SERVER, *args, tmp_path=tmp_path) as server:
        url = await server_url(server)
        result = await run(CLIENT, str(source), "--server", url)
        assert (result.returncode, result.stdout) == (1, "")
        assert result.stderr == f"the server closed the connection: 1009 uploads are limited to {MIB} bytes\n"

        # An exact fit is fine, and so is an empty file (sent as one empty message).
        fits = tmp_path / "fits.bin"
        fits.write_bytes(b"\x01" * MIB)
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        with trio.fail_after(STEP):
            for path in (fits, empty):
                sent, reply = await upload(f"{url}/upload/{path.name}", trio.Path(path))
                assert reply == {"name": path.name, "size": sent.size, "sha256": sent.sha256}
                assert reply["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()

        # Separators, dot-dot, hidden names and NUL are refused before the upgrade.
        for name in BAD_NAMES:
            with pytest.raises(ws.ConnectionRejected) as rejected, trio.fail_after(STEP):
                await upload(f"{url}/upload/{name}", trio.Path(__file__))
            assert rejected.value.status_code == 400, name
            assert rejected.value.body == b"the upload's name must be a plain file name\n"
    assert sorted(path.name for path in store.iterdir()) == ["empty.bin", "fits.bin"]
