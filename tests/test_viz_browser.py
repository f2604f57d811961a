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
            cwd=project_root,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(build))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield (
        f"http://127.0.0.1:{server.server_address[1]}/",
        json.loads((build / "api" / "main").read_text()),
    )
    server.shutdown()


@pytest.mark.browser
@pytest.mark.slow
def test_flowchart_renders_in_headless_chromium(viz_site, tmp_path, project_root):
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "Debian's chromium is not installed (CI installs it with apt-get install chromium)"
        )
    url, main = viz_site
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "pipeline-flowchart" in html or "flowchart" in html.lower(), html[:2000]
    # The default pipeline opens collapsed: one node per top-level namespace (world, fit) and the
    # datasets that pass between them, all labelled in the flowchart SVG.
    labels = set(re.findall(r'class="pipeline-node__text"[^>]*>([^<]+)</text>', html))
    groups = {
        c["id"]
        for c in main["modular_pipelines"]["__root__"]["children"]
        if c["type"] == "modularPipeline"
    }
    assert groups == {"world", "fit"}, groups
    assert groups <= labels, f"flowchart shows {sorted(labels)}"
    assert {"raw_concepts", "mdl_t2i", "rpt_threshold_report_html"} <= labels, ", ".join(sorted(labels))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = (project_root / ARTIFACTS / "kedro-viz.png").resolve()
    subprocess.run(
        [*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=180
    )
    assert shot.exists() and shot.stat().st_size > 10_000


@pytest.fixture(scope="module")
def reported_project(tmp_path_factory):
    """A project copy after `kedro run --pipelines threshold_user_table` (test sizes)."""
    from tests.fixtures.project import copy_project

    project = copy_project(tmp_path_factory.mktemp("viz") / "project")
    shutil.rmtree(project / "conf" / "local")
    (project / "conf" / "local").mkdir()
    kedro = Path(sys.executable).with_name("kedro")
    env = {**ENV, "IMITATION_KEDRO_PROGRESS": "0", "MPLBACKEND": "agg"}
    out = subprocess.run(
        [str(kedro), "run", "--pipelines", "threshold_user_table", "--env", "test", "--params", "threshold.embed_figures=true"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return project


def _shoot(chromium: str, profile: Path, url: str, shot: Path) -> str:
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*base, "--dump-dom", url], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [*base, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=180
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    return dom.stdout


@pytest.mark.browser
@pytest.mark.slow
def test_html_report_stands_alone_in_chromium(reported_project, tmp_path, project_root):
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "Debian's chromium is not installed (CI installs it with apt-get install chromium)"
        )
    html = next((reported_project / "data/08_reporting/threshold_report.html").glob("*/*.html"))
    shot = (project_root / ARTIFACTS / "threshold-report.png").resolve()
    dom = _shoot(chromium, tmp_path / "profile", html.as_uri(), shot)
    assert "<h1>Imitation thresholds</h1>" in dom and "<table>" in dom
    assert dom.count('src="data:image/png;base64,') == 2  # both figures inside the one file
    assert not re.search(r"\de\+\d", re.sub(r"data:image/png;base64,[^\"]+", "", dom))


@pytest.mark.browser
@pytest.mark.slow
def test_kedro_viz_previews_the_report(reported_project, tmp_path, project_root):
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "Debian's chromium is not installed (CI installs it with apt-get install chromium)"
        )
    build = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
        cwd=reported_project,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    site = reported_project / "build"
    main = json.loads((site / "api" / "main").read_text())
    ids = {n["name"]: n["id"] for n in main["nodes"] if n["type"] == "data"}
    node = json.loads((site / "api" / "nodes" / ids["rpt_threshold_report"]).read_text())
    assert node["preview_type"] == "HTMLPreview", node.get("preview_type")
    assert "<table>" in node["preview"] and 'src="data:image/png;base64,' in node["preview"]
    html_node = json.loads((site / "api" / "nodes" / ids["rpt_threshold_report_html"]).read_text())
    assert html_node["preview_type"] == "HTMLPreview"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rid = ids["rpt_threshold_report"]
        url = f"http://127.0.0.1:{server.server_address[1]}/?sid={rid}&sn=rpt_threshold_report"
        shot = (project_root / ARTIFACTS / "kedro-viz-report-preview.png").resolve()
        dom = _shoot(chromium, tmp_path / "profile", url, shot)
    finally:
        server.shutdown()
    assert "html-renderer" in dom and "Imitation thresholds" in dom, dom[:3000]
