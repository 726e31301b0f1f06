"""The real server over real loopback sockets: clients that go away, stall or pile up."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.e2e.server import Server

pytestmark = pytest.mark.slow
WAIT_S = 20.0  # the longest any test here waits for the server to notice something


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.data_dir.mkdir()
    srv.start()
    yield srv
    srv.stop()


def metrics(server: Server) -> str:
    return httpx2.get(server.url + "metrics", timeout=10.0).text


def wait_for_metric(server: Server, needle: str) -> str:
    deadline = time.monotonic() + WAIT_S
    text = metrics(server)
    while needle not in text and time.monotonic() < deadline:
        time.sleep(0.1)
        text = metrics(server)
    return text


def send_part_of_a_request(server: Server, body_sent: bytes, declared: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
    head = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: alice-token\r\nContent-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + body_sent)
    return sock


def test_a_client_that_disconnects_mid_body_is_counted_as_a_disconnect_not_an_error(server: Server) -> None:
    sock = send_part_of_a_request(server, b'{"version": "1.1", "meth', declared=10_000)
    time.sleep(0.2)
    sock.close()

    text = wait_for_metric(server, "ee_retry_rpc_disconnects_total")

    assert 'ee_retry_rpc_disconnects_total{method="invalid"} 1.0' in text
    assert 'code="-32099"' not in text
    log = server.log.read_text()
    assert log.count("disconnected") == 1
    assert "Traceback" not in log
