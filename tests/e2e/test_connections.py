"""The real server over real loopback sockets: clients that go away, stall or pile up."""

from __future__ import annotations

import inspect
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import uvicorn

from tests.e2e.server import Server

pytestmark = pytest.mark.slow
WAIT_S = 20.0  # the longest any test here waits for the server to notice something


# uvicorn's own keep-alive timeout when none is given (5 s): the keep-alive test waits for less.
UVICORN_KEEP_ALIVE_S = inspect.signature(uvicorn.Config).parameters["timeout_keep_alive"].default
TRICKLE_S = 0.2  # a slow client's pause between two bytes

MAX_CONNECTIONS = 8
MAX_IN_FLIGHT = 2
LIMITS = {
    "EE_RETRY_HEADER_TIMEOUT_S": "1",
    "EE_RETRY_BODY_TIMEOUT_S": "1",
    "EE_RETRY_KEEP_ALIVE_S": "1",
    "EE_RETRY_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "EE_RETRY_MAX_IN_FLIGHT": str(MAX_IN_FLIGHT),
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """The service with short timeouts and small caps, so each limit is reached in a second."""
    srv = Server(tmp_path / "data", env=LIMITS)
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


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_S)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket timeout)."""
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer: its headers, then as many body bytes as its Content-Length says (uvicorn may
    send the headers and the body in two writes, which one recv can see apart)."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65_536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length and (chunk := sock.recv(65_536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(server: Server) -> None:
    assert read_until_closed(connect(server)) == b""


def test_a_connection_that_stops_mid_headers_is_closed_after_the_header_timeout(server: Server) -> None:
    sock = connect(server)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")

    assert read_until_closed(sock) == b""


def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(server: Server) -> None:
    sock = send_part_of_a_request(server, b'{"version": "1.1", "meth', declared=500_000)

    answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert server.call("ver", [])[0] == 200


def test_a_body_sent_in_parts_within_the_body_timeout_is_answered_and_the_connection_kept(
    tmp_path: Path,
) -> None:
    """Timeouts of a few seconds here, so that a loaded machine cannot push a pause past a limit."""
    body = b'{"version": "1.1", "method": "execution_engine2.ver", "params": [], "id": "1"}'
    srv = Server(
        tmp_path / "data", env=LIMITS | {"EE_RETRY_BODY_TIMEOUT_S": "3", "EE_RETRY_KEEP_ALIVE_S": "6"}
    )
    srv.data_dir.mkdir()
    srv.start()
    try:
        sock = send_part_of_a_request(srv, body[:10], declared=len(body))
        time.sleep(1.0)  # well within the body timeout
        sock.sendall(body[10:])
        first = read_answer(sock)
        time.sleep(2.5)  # past the body timeout counted from the first part, well within the keep-alive
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

        assert first.startswith(b"HTTP/1.1 200 ")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200 ")
    finally:
        srv.stop()


def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(server: Server) -> None:
    """Closed well before uvicorn's own default would close it: the setting is what applies."""
    sock = connect(server)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    sock.settimeout(UVICORN_KEEP_ALIVE_S - 1)

    answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 200 ")


def trickle(sock: socket.socket, data: bytes) -> bytes:
    """Send `data` one byte every TRICKLE_S until the server closes the connection; returns what the
    server answered meanwhile. Fails if the connection is still open after WAIT_S."""
    sock.settimeout(TRICKLE_S)
    answer = b""
    deadline = time.monotonic() + WAIT_S
    for i in range(len(data)):
        if time.monotonic() > deadline:
            break
        try:
            sock.sendall(data[i : i + 1])
            while chunk := sock.recv(65_536):
                answer += chunk
            sock.close()
            return answer
        except TimeoutError:
            continue  # still open, nothing more to read: the next byte
        except (BrokenPipeError, ConnectionResetError):
            sock.close()
            return answer
    sock.close()
    raise AssertionError(f"the server kept a trickling connection open for {WAIT_S:g} s")


def test_headers_that_keep_trickling_in_are_cut_off_after_the_header_timeout(server: Server) -> None:
    """A byte every 0.2 s keeps the connection busy, but the headers never finish: closed anyway."""
    head = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1_000

    assert trickle(connect(server), head) == b""


def test_a_body_that_keeps_trickling_in_gets_408_after_the_body_timeout(server: Server) -> None:
    """The body's deadline counts from its headers: arriving slowly does not extend it."""
    sock = send_part_of_a_request(server, b"", declared=10_000)

    answer = trickle(sock, b'{"version": "1.1", "params": [' + b" " * 9_000)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert server.call("ver", [])[0] == 200


def test_connections_over_the_cap_are_answered_503_and_closed_and_service_resumes(server: Server) -> None:
    idle = [connect(server) for _ in range(MAX_CONNECTIONS)]
    time.sleep(0.2)

    refused = read_until_closed(connect(server))

    assert refused.startswith(b"HTTP/1.1 503 ")
    for sock in idle:
        sock.close()
    assert wait_until_answered(server) == 200


def test_requests_over_the_in_flight_cap_are_answered_503_at_once(server: Server) -> None:
    slow = [send_part_of_a_request(server, b"{", declared=1_000) for _ in range(MAX_IN_FLIGHT)]
    time.sleep(0.2)

    status, body = server.call("ver", [])

    assert status == 503
    assert "retry shortly" in body["error"]
    for sock in slow:
        sock.close()
    assert wait_until_answered(server) == 200


def wait_until_answered(server: Server) -> int:
    deadline = time.monotonic() + WAIT_S
    status = 0
    while time.monotonic() < deadline and status != 200:
        status = server.call("ver", [])[0]
        time.sleep(0.1)
    return status


def rss_kb(server: Server) -> int:
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


def test_memory_taken_by_a_burst_of_large_slow_bodies_is_given_back_after_it(tmp_path: Path) -> None:
    """100 requests each holding 900 KB of a 1 MB body raise memory; once they time out, it returns."""
    server = Server(tmp_path / "data", env={"EE_RETRY_BODY_TIMEOUT_S": "1", "EE_RETRY_MAX_IN_FLIGHT": "100"})
    server.data_dir.mkdir()
    server.start()
    try:
        for _ in range(50):
            server.call("ver", [])
        warm = rss_kb(server)
        socks = [send_part_of_a_request(server, b"x" * 900_000, declared=1_000_000) for _ in range(100)]
        time.sleep(0.5)
        loaded = rss_kb(server)
        answers = [read_until_closed(sock) for sock in socks]
        assert server.call("ver", [])[0] == 200
        after = rss_kb(server)
    finally:
        server.stop()

    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers)
    assert loaded - warm > 30_000, (warm, loaded)
    assert after - warm < (loaded - warm) / 4, (warm, loaded, after)


def test_a_rest_client_that_disconnects_mid_body_is_counted_as_a_disconnect(server: Server) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
    head = (
        "POST /api/v1/retries HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Authorization: Bearer alice-token\r\nContent-Length: 1000\r\n\r\n{"
    )
    sock.sendall(head.encode())
    time.sleep(0.2)
    sock.close()

    text = wait_for_metric(server, 'method="REST POST"')

    assert 'ee_retry_rpc_disconnects_total{method="REST POST"} 1.0' in text
    assert "Traceback" not in server.log.read_text()
