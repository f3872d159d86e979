"""examples/tls: the wss:// server and client, run as programs, with real certificates."""

from __future__ import annotations

import re
import shlex
import shutil
import signal
from pathlib import Path

import pytest
import trio
import trustme

from tests.examples.programs import EXAMPLES, Program, run, running

SERVER = EXAMPLES / "tls" / "server.py"
CLIENT = EXAMPLES / "tls" / "client.py"
README = EXAMPLES / "tls" / "README.md"


async def listening_url(server: Program) -> str:
    """The URL the server printed on its first line."""
    line = await server.read_line()
    match = re.fullmatch(r"tls: listening on (wss://127\.0\.0\.1:\d+/)", line)
    assert match is not None, line
    return match.group(1)


async def check_echo(url: str, cafile: Path) -> None:
    """The client, trusting ``cafile``, gets its two messages back and exits with 0."""
    result = await run(CLIENT, url, "hello", "wörld", "--cafile", str(cafile))
    assert (result.returncode, result.stdout) == (0, "received: hello\nreceived: wörld\n"), result.stderr


async def stop(server: Program) -> None:
    """SIGTERM: the server says it stopped and exits with 0."""
    server.signal(signal.SIGTERM)
    assert await server.wait() == 0, server.stderr()
    assert server.lines[-1] == "tls: stopped"
    assert "Traceback" not in server.stderr()


async def test_a_certificate_from_files(tmp_path: Path) -> None:
    """--certfile/--keyfile from a test CA: the client trusting that CA echoes over TLS 1.2+."""
    authority = trustme.CA()
    issued = authority.issue_cert("localhost", "127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    issued.private_key_pem.write_to_path(tmp_path / "key.pem")
    authority.cert_pem.write_to_path(tmp_path / "ca.pem")
    args = ["--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")]
    async with running(SERVER, *args, "--port", "0", tmp_path=tmp_path) as server:
        url = await listening_url(server)
        await check_echo(url, tmp_path / "ca.pem")
        line = await server.expect("tls: 127.0.0.1:")
        assert re.fullmatch(r"tls: 127\.0\.0\.1:\d+ connected with TLSv1\.[23]", line), line
        await stop(server)


async def test_self_signed_mode_and_a_client_that_does_not_trust_it(tmp_path: Path) -> None:
    """--self-signed CA_FILE: a client trusting CA_FILE gets its echo; one without it exits 2, saying why."""
    ca = tmp_path / "ca.pem"
    async with running(SERVER, "--self-signed", str(ca), "--port", "0", tmp_path=tmp_path) as server:
        url = await listening_url(server)
        assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
        await check_echo(url, ca)

        # Without --cafile, the system CAs do not know the throw-away CA.
        result = await run(CLIENT, url, "secret")
        assert (result.returncode, result.stdout) == (2, ""), result
        assert "the server's certificate was not accepted: unable to get local issuer certificate" in result.stderr
        assert "--cafile" in result.stderr
        # A CA that did not sign the server's certificate is no better.
        trustme.CA().cert_pem.write_to_path(tmp_path / "other-ca.pem")
        result = await run(CLIENT, url, "secret", "--cafile", str(tmp_path / "other-ca.pem"))
        assert result.returncode == 2, result
        await stop(server)


def readme_openssl_command() -> list[str]:
    """The ``openssl req`` command of README.md, as arguments."""
    text = README.read_text()
    match = re.search(r"^\$ (openssl req .*?[^\\])$", text, re.MULTILINE | re.DOTALL)
    assert match is not None, "README.md has no openssl command"
    return shlex.split(match.group(1).replace("\\\n", " "))


async def test_the_readme_openssl_certificate_works(tmp_path: Path) -> None:
    """The certificate the README's openssl command makes serves wss://, trusted as its own CA."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not found: apt-get install openssl")
    command = readme_openssl_command()
    assert command[:2] == ["openssl", "req"]
    with trio.fail_after(10):
        await trio.run_process([openssl, *command[1:]], cwd=tmp_path, capture_stderr=True)
    args = ["--certfile", str(tmp_path / "cert.pem"), "--keyfile", str(tmp_path / "key.pem")]
    async with running(SERVER, *args, "--port", "0", tmp_path=tmp_path) as server:
        url = await listening_url(server)
        await check_echo(url.replace("127.0.0.1", "localhost"), tmp_path / "cert.pem")
        await stop(server)
