"""The course in a real browser: JupyterLab 4 + Debian's Chromium driven by Playwright, as a learner.

One JupyterLab server on 127.0.0.1 serves a fresh learner workspace (``labkit course init``);
one browser opens every course notebook in turn, on sim, and:

* runs **Run All** and checks, from the notebook as JupyterLab saved it, that every code cell ran
  (the last one, ``lab.stop()``, included) and that no cell has an error output: the checks of
  undone exercises say "not yet" and let the notebook go on (issue 14);
* checks that no button, toggle or dropdown label is cut short on screen (its text wider than its box);
* keeps a screenshot of each notebook.

In three notebooks it then does an exercise as a learner would, and sees the check's *not yet*
turn into *passed*: 00 (press Apply in the policy editor; the matrix widget follows, a click on a
cell explains it), 01 (type the solution into the editor), 03 (type the answer of 3.1 into its cell).

Screenshots land in the test's tmp dir and are copied to ``$LABKIT_ARTIFACTS_DIR`` (default
``build/test-artifacts/`` in the repository) for CI to keep; their paths are printed. No browser
is downloaded: Playwright drives ``/usr/bin/chromium`` (``executable_path``). Jupyter's config,
data, runtime, settings and workspace dirs are isolated in the tmp dir. Skipped when Chromium or
Playwright is missing, except on CI (``CI=true``), where that is a failure.

Runtime: about 2-3 minutes on the 2-core CI machine (nine notebooks, three exercises).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("LABKIT_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS_DIR = Path(os.environ.get("LABKIT_ARTIFACTS_DIR") or ROOT / "build" / "test-artifacts")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SOLUTION_01 = (ROOT / "notebooks" / "solutions" / "01-namespace-y.yaml").read_text()
CELL_TIMEOUT_MS = 120_000


def _missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set LABKIT_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright; no 'playwright install' needed)"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def browser_available():
    """Skip (fail on CI) when Chromium or Playwright is missing; other browser tests use it too."""
    why = _missing()
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run on CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, browser_available):
    """JupyterLab on 127.0.0.1 (isolated dirs) serving a fresh learner workspace; yields (url, workspace)."""
    from labkit.course.workspace import init_workspace

    tmp = tmp_path_factory.mktemp("browser")
    home = tmp / "jupyter"
    workspace = tmp / "labkit-course"
    init_workspace(workspace, learner="learner")
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
           "LABKIT_STATE_DIR": str(tmp / "labs"), "LABKIT_USER": "learner", "JUPYTER_PLATFORM_DIRS": "1"}
    for name in ("LABKIT_GRADING", "LABKIT_PROGRESS", "LABKIT_WORKSPACE"):
        env.pop(name, None)  # a learner's server: checks report, and record into the workspace
    port = _free_port()
    token = secrets.token_hex(16)  # a server on 127.0.0.1 still authenticates (the page logs in with it once)
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    log = (tmp / "jupyter.log").open("w")
    server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workspace)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start; log:\n{(tmp / 'jupyter.log').read_text()[-3000:]}")
                time.sleep(0.3)
        yield url, workspace, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def page(lab_server):
    from playwright.sync_api import sync_playwright

    url, _, token = lab_server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{url}/lab?token={token}")  # the server sets its login cookie; later pages need no token
            page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
            yield page
        finally:
            browser.close()


# ---------------------------------------------------------------------------- helpers


def save_screenshot(page, name: str, tmp_dir: Path) -> Path:
    """Screenshot into the test's tmp dir, copied to ARTIFACTS_DIR for CI to keep."""
    path = tmp_dir / name
    page.screenshot(path=str(path))
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    kept = ARTIFACTS_DIR / name
    shutil.copyfile(path, kept)
    print(f"screenshot: {kept}")
    return path


def open_notebook(page, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?reset")
    page.wait_for_selector("text=| Idle", timeout=60_000)


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=top).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).first.click()


def code_cells(page):
    return page.locator(".jp-Notebook .jp-CodeCell")


def wait_until_ran(page, cell, timeout_ms: int = CELL_TIMEOUT_MS) -> None:
    """Until ``cell``'s prompt shows an execution count ("[12]:"), i.e. it has run."""
    prompt = cell.locator(".jp-InputPrompt").first
    deadline = time.monotonic() + timeout_ms / 1000
    while not re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cell did not run: prompt {prompt.inner_text()!r}")
        time.sleep(0.2)
    page.wait_for_selector("text=| Idle", timeout=timeout_ms)


def run_all(page) -> None:
    menu(page, "Run", "Run All Cells")
    wait_until_ran(page, code_cells(page).last)


def saved_notebook(page, workspace: Path, name: str) -> dict:
    """Save (Ctrl+S) and read the notebook as JupyterLab wrote it."""
    path = workspace / name
    before = path.stat().st_mtime_ns
    page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    return json.loads(path.read_text())


def truncated_labels(page) -> list[str]:
    """Visible buttons, toggles and labels whose text is wider than their box (cut short)."""
    return page.evaluate("""() => [...document.querySelectorAll(
            '.jupyter-widgets button, .widget-toggle-button, .widget-label, .widget-dropdown select')]
        .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
        .map(e => (e.innerText || e.value || '').trim() + ' (' + e.scrollWidth + '>' + e.clientWidth + 'px)')""")


def cell_with(page, text: str):
    return code_cells(page).filter(has_text=text).first


def run_cell(page, cell) -> None:
    """Select ``cell`` and run it (Shift+Enter), as a learner does."""
    cell.locator(".jp-InputArea-editor").first.click()
    page.keyboard.press("Shift+Enter")
    wait_until_ran(page, cell)


def run_all_above(page, cell) -> None:
    cell.locator(".jp-InputArea-editor").first.click()
    page.keyboard.press("Escape")
    menu(page, "Run", "Run All Above Selected Cell")
    page.wait_for_timeout(500)
    page.wait_for_selector("text=| Idle", timeout=CELL_TIMEOUT_MS)


def shut_down_kernels(page, url: str) -> None:
    """End every kernel (as Kernel > Shut Down All Kernels does), through the page's own session:
    jupyter_server wants the ``_xsrf`` cookie echoed in a header for a DELETE."""
    xsrf = next((c["value"] for c in page.context.cookies() if c["name"] == "_xsrf"), "")
    for session in page.request.get(f"{url}/api/sessions").json():
        response = page.request.delete(f"{url}/api/sessions/{session['id']}", headers={"X-XSRFToken": xsrf})
        assert response.ok, (response.status, response.text())


# ---------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_reaches_the_last_cell(lab_server, page, name, tmp_path):
    url, workspace, _ = lab_server
    open_notebook(page, url, name)
    run_all(page)
    nb = saved_notebook(page, workspace, name)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"{name}: cells that did not run: " + ", ".join(
        c.get("id", "?") for c in code if not c["execution_count"])
    assert "".join(code[-1]["source"]).strip() in ("lab.stop()",), "the last cell is lab.stop()"
    errors = [(c.get("id"), o.get("ename"), o.get("evalue")) for c in code for o in c["outputs"]
              if o["output_type"] == "error"]
    assert not errors, f"{name}: error outputs {errors}"
    assert "not yet" in json.dumps(code) or "passed" in json.dumps(code), "the checks showed their verdict"
    cut = truncated_labels(page)
    save_screenshot(page, f"{Path(name).stem}-run-all.png", tmp_path)
    shut_down_kernels(page, url)
    assert not cut, f"{name}: labels cut short: {cut}"


def test_00_apply_in_the_editor_turns_not_yet_into_passed(lab_server, page, tmp_path):
    url, _, _ = lab_server
    open_notebook(page, url, "00-start-here.ipynb")
    run_all(page)
    check = cell_with(page, "check_reachability(lab")
    assert "Exercise 0: not yet" in check.inner_text()
    run_all_above(page, check)  # the learner's way back to a running lab after Run All stopped it
    page.wait_for_selector(".labkit-matrix .labkit-cell >> visible=true", timeout=60_000)
    assert page.locator(".labkit-matrix .labkit-cell").count() == 81  # 9 x 9 pods of the workshop profile
    cell = page.locator('.labkit-matrix .labkit-cell[title^="y/a → x/b"]').first
    assert cell.inner_text().strip() == "✓"
    page.locator(".jupyter-widgets button", has_text="Apply").first.click()  # the editor holds the default deny
    page.wait_for_selector(".labkit-editor-status >> text=created", timeout=30_000)
    from playwright.sync_api import expect

    changed = page.locator('.labkit-matrix .labkit-cell[title^="y/a → x/b"]').first
    expect(changed).to_have_text("✗", timeout=30_000)  # the matrix (another widget) followed the editor
    assert changed.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(213, 94, 0)"  # #D55E00
    changed.scroll_into_view_if_needed()
    changed.click()
    explanation = page.locator(".labkit-explanation", has_text="y/a → x/b").first
    explanation.wait_for(timeout=30_000)
    assert "default-deny-ingress" in explanation.inner_text()
    save_screenshot(page, "00-start-here-after-apply.png", tmp_path)
    run_cell(page, check)
    expect(check.locator(".labkit-check-passed")).to_contain_text("Exercise 0: passed", timeout=30_000)
    check.scroll_into_view_if_needed()
    save_screenshot(page, "00-start-here-passed.png", tmp_path)
    shut_down_kernels(page, url)


def test_01_a_typed_solution_turns_not_yet_into_passed(lab_server, page, tmp_path):
    from playwright.sync_api import expect

    url, _, _ = lab_server
    open_notebook(page, url, "01-kubernetes-networkpolicy.ipynb")
    run_all(page)
    checks = code_cells(page).filter(has_text="check_reachability(lab")
    assert checks.count() == 2 and "Exercise 1, TCP/80: not yet" in checks.nth(0).inner_text()
    run_all_above(page, checks.nth(0))
    editor = page.locator(".labkit-yaml textarea").first
    editor.scroll_into_view_if_needed()
    editor.fill(SOLUTION_01)
    page.locator(".jupyter-widgets button", has_text="Apply").first.click()
    page.wait_for_selector(".labkit-editor-status >> text=netpol/y/y-from-z-only created", timeout=30_000)
    for i in range(2):
        run_cell(page, checks.nth(i))
        expect(checks.nth(i).locator(".labkit-check-passed")).to_contain_text("passed", timeout=30_000)
    checks.nth(0).scroll_into_view_if_needed()
    save_screenshot(page, "01-kubernetes-networkpolicy-passed.png", tmp_path)
    shut_down_kernels(page, url)


def test_03_a_typed_answer_turns_not_yet_into_passed(lab_server, page, tmp_path):
    from playwright.sync_api import expect

    url, workspace, _ = lab_server
    open_notebook(page, url, "03-tiers-and-troubleshooting.ipynb")
    run_all(page)
    answer = cell_with(page, "blocked_by = ")
    assert "Exercise 3.1: not yet" in answer.inner_text()
    source = answer.locator(".cm-content").first
    source.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text('blocked_by = "AntreaClusterNetworkPolicy:block-legacy-clients"\n'
                              'check_decided_by(lab, "y/a", "x/b", blocked_by, port=80, title="Exercise 3.1")')
    page.keyboard.press("Shift+Enter")
    wait_until_ran(page, answer)
    expect(answer.locator(".labkit-check-passed")).to_contain_text("Exercise 3.1: passed", timeout=30_000)
    answer.scroll_into_view_if_needed()
    save_screenshot(page, "03-tiers-and-troubleshooting-passed.png", tmp_path)
    shut_down_kernels(page, url)
    # Every check above was recorded in the learner's workspace, for the trainer's board.
    records = [json.loads(line) for line in (workspace / ".labkit" / "progress.jsonl").read_text().splitlines()]
    mine = [(r["notebook"], r["exercise"], r["passed"]) for r in records if r["exercise"] == "Exercise 3.1"]
    assert mine[-1] == ("03-tiers-and-troubleshooting", "Exercise 3.1", True)
    assert ("03-tiers-and-troubleshooting", "Exercise 3.1", False) in mine
