"""`python -m ee_retry` (what scripts/run starts) prints the console's URL, and the URL answers."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from tests.e2e.server import Server


@pytest.mark.slow
def test_the_server_prints_the_console_url_and_it_leads_to_sign_in(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    try:
        console = f"{server.url}ui/"
        assert f"console: open {console} in a browser" in server.log.read_text()
        answer = httpx2.get(console, follow_redirects=True, timeout=10.0)
        assert answer.status_code == 200 and "Sign in" in answer.text
        assert str(answer.url) == f"{server.url}ui/login"
    finally:
        server.stop()
