"""One real-browser smoke test: JupyterLab 4 + Debian's Chromium driven by Playwright.

Opens ``00-start-here``, runs all cells (with the reference solution applied), checks that the
reachability-matrix widget renders as a grid of coloured cells, clicks one and waits for the
explanation. Then it types a policy into the PolicyEditor, presses Apply and waits for the matrix
to change. Screenshots land in the test's tmp dir and are copied to ``$LABKIT_ARTIFACTS_DIR``
(default ``build/test-artifacts/`` in the repository) for CI to keep; their paths are printed.

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (``executable_path``). Jupyter's
config, data, runtime, settings and workspace dirs are isolated in the tmp dir. Skipped when
Chromium or Playwright is missing, except on CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
ARTIFACTS_DIR = Path(os.environ.get("LABKIT_ARTIFACTS_DIR") or Path(__file__).resolve().parents[2] / "build"
                     / "test-artifacts")
# Typed into the editor: y's pods may reach x/b, which 00's default deny for x had dropped.
TYPED_POLICY = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-to-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: y}}}]
"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set LABKIT_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no 'playwright install' needed)"
    return ""


@pytest.fixture(scope="module")
def browser_available():
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run on CI: {why}")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def jupyter_lab(tmp_path, browser_available):
    """A JupyterLab server on 127.0.0.1 with isolated dirs, serving a copy of the notebooks."""
    home = tmp_path / "jupyter"
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, root)
    nb = nbformat.read(root / "00-start-here.ipynb", as_version=4)  # SOLVE = True, as papermill would inject
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells[index].source = nb.cells[index].source.replace("SOLVE = False", "SOLVE = True")
    # "Run All" would end with lab.stop(); the test types into the editor afterwards, so the copy keeps
    # its lab running (the kernel's shutdown stops it).
    assert nb.cells[-1].source.strip() == "lab.stop()"
    del nb.cells[-1]
    nbformat.write(nb, root / "00-start-here.ipynb")
    _write_json(home / "data" / "kernels" / "python3" / "kernel.json", {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"})
    settings = home / "user-settings"
    _write_json(settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings",
                {"fetchNews": "false", "checkForUpdates": False})
    # Render every cell: with virtual windowing, cells outside the viewport have no DOM.
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"windowingMode": "none"})
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "LABKIT_STATE_DIR": str(tmp_path / "labkit-state"), "JUPYTER_PLATFORM_DIRS": "1"}
    port = _free_port()
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start; log:\n{(tmp_path / 'jupyter.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def save_screenshot(page, path: Path) -> Path:
    """Screenshot into the test's tmp dir, copied to ARTIFACTS_DIR for CI to keep."""
    page.screenshot(path=str(path))
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS_DIR / path.name
    shutil.copyfile(path, kept)
    print(f"screenshot: {kept} (and {path})")
    return path


def test_start_here_renders_the_matrix_and_explains_a_click(jupyter_lab, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{jupyter_lab}/lab/tree/00-start-here.ipynb?reset")
            page.wait_for_selector("text=| Idle", timeout=60_000)
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()

            page.wait_for_selector(".labkit-matrix .labkit-cell >> visible=true", timeout=60_000)
            page.wait_for_selector("text=Exercise 0: passed", timeout=60_000)
            cells = page.locator(".labkit-matrix .labkit-cell")
            assert cells.count() == 81  # 9 x 9 pods of the workshop profile
            cell = page.locator('.labkit-matrix .labkit-cell[title^="y/a → x/b"]').first
            assert cell.inner_text().strip() == "✗"  # default deny for x was applied
            background = cell.evaluate("e => getComputedStyle(e).backgroundColor")
            assert background == "rgb(213, 94, 0)"  # Okabe-Ito vermillion #D55E00

            cell.scroll_into_view_if_needed()
            cell.click()
            explanation = page.locator(".labkit-explanation", has_text="y/a → x/b").first
            explanation.wait_for(timeout=30_000)
            text = explanation.inner_text()
            assert "Ingress" in text and "default-deny-ingress" in text and "Egress" in text
            assert page.locator("text=Error displaying widget").count() == 0

            page.locator(".labkit-matrix").first.scroll_into_view_if_needed()
            assert save_screenshot(page, tmp_path / "00-start-here-matrix.png").stat().st_size > 10_000

            # The editor: type a policy, press Apply, and the matrix (another widget) follows.
            editor = page.locator(".labkit-yaml textarea").first
            editor.scroll_into_view_if_needed()
            editor.fill(TYPED_POLICY)
            page.locator(".jupyter-widgets button", has_text="Apply").first.click()
            page.wait_for_selector(".labkit-editor-status >> text=netpol/x/y-to-b created", timeout=30_000)
            # The matrix redraws its cells on refresh: a locator (re-queried) follows, a held element would not.
            changed = page.locator('.labkit-matrix .labkit-cell[title^="y/a → x/b"]').first
            expect(changed).to_have_text("✓", timeout=30_000)
            assert changed.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(0, 158, 115)"  # #009E73
            still = page.locator('.labkit-matrix .labkit-cell[title^="z/a → x/b"]').first
            assert still.inner_text().strip() == "✗"  # only y was allowed in
            changed.scroll_into_view_if_needed()
            save_screenshot(page, tmp_path / "00-start-here-after-apply.png")
        finally:
            browser.close()
