"""The report opens in headless Chromium, offline, and every figure decodes and has a size."""

import os
import re
import shutil
import subprocess

import pytest

from layerwise.report import verdict_section, write_report

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]


def _chromium() -> str:
    for name in CHROMIUM:
        found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if os.path.exists(p)), None)
        if found:
            return found
    pytest.skip("headless Chromium not installed: apt-get install -y chromium")


@pytest.mark.browser
def test_every_figure_renders_in_headless_chromium(tmp_path, run_writer):
    browser = _chromium()
    runs = [run_writer(tmp_path / "a", seed=0), run_writer(tmp_path / "b", seed=1)]
    verdict = verdict_section({"study": "s", "verdict": "fails", "metric": "loss", "better": "lower",
                               "arms": {"base": {"values": [1.0, 2.0], "mean": 1.5, "ci95": [0.5, 2.5]}}})
    page = write_report(runs, tmp_path / "report.html", sections=[verdict])
    n_figures = len(re.findall(r'<figure class="lw-figure', page.read_text()))
    assert n_figures == 4 + 4 + 1  # panels, comparisons, verdict (curves are interactive charts)
    cmd = [browser, *FLAGS, "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    charts = re.search(r'data-charts-ok="(\d+)/(\d+)"', done.stdout)
    assert charts and charts.group(1) == charts.group(2) == "6", charts  # 2 curves, 4 layer metrics
    assert done.stdout.count('class="lw-line"') >= 2 * 2 + 4 * 2 * 2  # a line per run (and layer)
    assert "Uncaught" not in done.stderr and "SyntaxError" not in done.stderr, done.stderr[-2000:]
    found = re.search(r'data-figures-ok="(\d+)/(\d+)"', done.stdout)
    assert found, f"no self-check result in the DOM; chromium said: {done.stderr[-2000:]}"
    assert found.groups() == (str(n_figures), str(n_figures))
    assert 'data-broken' not in done.stdout


@pytest.mark.browser
def test_charts_respond_to_toggles_hover_zoom_and_reset(tmp_path, run_writer):
    browser = _chromium()
    runs = [run_writer(tmp_path / "a", seed=0), run_writer(tmp_path / "b", seed=1)]
    page = write_report(runs, tmp_path / "report.html")
    cmd = [browser, *FLAGS, "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri() + "#lw-selftest"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    found = re.search(r'data-selftest="([^"]*)"', done.stdout)
    assert found and found.group(1) == "ok", (found and found.group(1), done.stderr[-2000:])


@pytest.mark.browser
def test_a_study_report_draws_every_chart_and_responds(tmp_path):
    from layerwise.studies import run_study

    browser = _chromium()
    run_study("curse-of-depth", size="tiny", out=tmp_path / "study", progress=False)
    page = tmp_path / "study" / "report.html"
    cmd = [browser, *FLAGS, "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri() + "#lw-selftest"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    charts = re.search(r'data-charts-ok="(\d+)/(\d+)"', done.stdout)
    assert charts and charts.group(1) == charts.group(2) and int(charts.group(2)) >= 4, charts
    assert re.search(r'data-selftest="ok"', done.stdout), done.stderr[-2000:]
    assert "Verdict: curse-of-depth" in done.stdout and "Uncaught" not in done.stderr
