"""kedro-viz in a real browser: build the static site, serve it on 127.0.0.1, render it in headless Chromium."""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
    "--virtual-time-budget=15000",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def viz_site(project_root):
    build = project_root / "build"
    if not (build / "api" / "main").exists():
        out = subprocess.run(
            [sys.executable, "-m", "kedro", "viz", "build"],
            cwd=project_root, env=ENV, capture_output=True, text=True, timeout=600,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", json.loads((build / "api" / "main").read_text())
    server.shutdown()


@pytest.mark.browser
@pytest.mark.slow
def test_flowchart_renders_in_headless_chromium(viz_site, tmp_path, project_root):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (CI installs it with apt-get install chromium)")
    url, main = viz_site
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "pipeline-flowchart" in html or "flowchart" in html.lower(), html[:2000]
    # The default pipeline opens collapsed: one node per top-level namespace (world, fit) and the
    # datasets that pass between them, all labelled in the flowchart SVG.
    labels = set(re.findall(r'class="pipeline-node__text"[^>]*>([^<]+)</text>', html))
    groups = {c["id"] for c in main["modular_pipelines"]["__root__"]["children"]
              if c["type"] == "modularPipeline"}
    assert groups == {"world", "fit"}, groups
    assert groups <= labels, f"flowchart shows {sorted(labels)}"
    assert {"raw_concepts", "mdl_t2i", "rpt_threshold_report"} <= labels, sorted(labels)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = (project_root / ARTIFACTS / "kedro-viz.png").resolve()
    subprocess.run([*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=180)
    assert shot.exists() and shot.stat().st_size > 10_000
