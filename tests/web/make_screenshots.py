"""Screenshots of the console for the README: `python -m tests.web.make_screenshots [DIR]` (default docs/).

It starts the real service on the embedded defaults in a temporary folder, makes a few jobs through
JSON-RPC (some fail, one is retried and fails again), signs in as alice in Debian's Chromium, and
saves the jobs page and the retried job's page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.server import Server
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM, failed_job


def make_jobs(server: Server) -> str:
    """The demo jobs; returns the id of a failed retry of a failed job."""
    missing = "/data/reads/sample-17.fastq"
    original = failed_job(server, path=missing)
    for seconds in (0, 0.2):
        done = server.result(
            "run_job", [{"method": "Demo.sleep", "params": [{"seconds": seconds}], "wsid": 1}]
        )
        server.wait_status(done, {"completed"})
    failed_job(server)
    server.result("run_job", [{"method": "Demo.sleep", "params": [{"seconds": 600}], "wsid": 1}])
    attempt: str = server.result("retry_job", [{"job_id": original}])["retry_id"]
    server.wait_status(attempt, {"error"})
    return attempt


def main(out: Path) -> int:
    if CHROMIUM is None:
        print(NO_CHROMIUM, file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        server = Server(Path(data))
        server.start()
        try:
            attempt = make_jobs(server)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1360, "height": 760})
                page.goto(server.url + "ui/login")
                page.get_by_label("Token").fill("alice-token")
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(server.url + "ui/")
                page.screenshot(path=str(out / "console-jobs.png"), full_page=True)
                page.goto(server.url + f"ui/jobs/{attempt}")
                page.screenshot(path=str(out / "console-job.png"), full_page=True)
                browser.close()
        finally:
            server.stop()
    print(f"saved {out / 'console-jobs.png'} and {out / 'console-job.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
