"""TensorBoard as a user sees it in a real browser: a run's scalars, images, HParams and PR-curves dashboards in
headless Chromium, each showing that run's data rather than an empty dashboard.

``chromium --dump-dom`` cannot see these dashboards: TensorBoard draws them inside shadow roots, which an HTML dump
leaves out. Chromium is driven instead over its DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ended by a NUL byte, read from file descriptor 3 and written to 4), with the standard library only, and a
script reads the page's text through every shadow root. Skipped where no ``chromium`` is on PATH
(``scripts/screenshots.sh`` installs Debian's).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_dirs
from test_tensorboard import TensorBoardServer

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.figures,  # the images dashboard shows the run's figures
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs chromium on PATH (scripts/screenshots.sh installs Debian's)"),
]

# The text a user sees: every text node of the page, shadow roots included, in document order.
PAGE_TEXT = r"""(() => {
  const out = [];
  const skipped = ['SCRIPT', 'STYLE', 'NOSCRIPT'];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) out.push(child.textContent);
      else if (child.nodeType === Node.ELEMENT_NODE && !skipped.includes(child.tagName)) walk(child);
    }
  };
  if (document.body) walk(document.body);
  return out.join(' ').replace(/\s+/g, ' ');
})()"""
# The images that have loaded and have pixels, shadow roots included.
LOADED_IMAGES = r"""(() => {
  let loaded = 0;
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.children) {
      if (child.tagName === 'IMG' && child.complete && child.naturalWidth > 0) loaded += 1;
      walk(child);
    }
  };
  if (document.body) walk(document.body);
  return loaded;
})()"""


class Chromium:
    """Headless Chromium, driven over the DevTools protocol on a pipe; stopped on exit however the test ends."""

    def __init__(self, profile: Path):
        to_chromium, self._send = os.pipe()
        self._receive, from_chromium = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--remote-debugging-pipe", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"]  # fmt: skip
        # bash puts the pipe's ends on the descriptors the protocol uses, whatever numbers they have here
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_chromium} 4>&{from_chromium}', "bash", CHROMIUM, *flags, "about:blank"],
            pass_fds=(to_chromium, from_chromium), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # its zygote and renderers too are stopped with its process group
        )  # fmt: skip
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer, self._last_id = b"", 0

    def call(self, method: str, session: str | None = None, timeout: float = 30.0, **params) -> dict:
        """Send one protocol command and return its result (events and other replies are skipped)."""
        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        os.write(self._send, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._receive], [], [], left)[0]:
                    pytest.fail(f"chromium did not answer {method} within {timeout} s")
                chunk = os.read(self._receive, 1 << 16)
                assert chunk, f"chromium exited (code {self.proc.poll()})"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._last_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply["result"]

    def open(self, url: str) -> str:
        """A new tab at ``url``; returns the session that addresses it."""
        target = self.call("Target.createTarget", url=url)["targetId"]
        return self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def evaluate(self, session: str, expression: str):
        """The value of a JavaScript expression in the tab; None while it throws (a page still loading)."""
        return self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)["result"].get("value")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass  # already gone
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        finally:
            os.close(self._send)
            os.close(self._receive)


def shows(browser: Chromium, sessions: dict[str, str], wanted: dict[str, list[str]], timeout: float = 90.0) -> dict:
    """Poll every tab until its text holds each of its wanted strings (and the images tab has a loaded image); fail
    with what a tab still showed at ``timeout`` seconds."""
    deadline, shown = time.monotonic() + timeout, {}
    pending = dict(sessions)
    while pending and time.monotonic() < deadline:
        for page, session in list(pending.items()):
            shown[page] = browser.evaluate(session, PAGE_TEXT) or ""
            done = all(text in shown[page] for text in wanted[page])
            if page == "images":
                done = done and (browser.evaluate(session, LOADED_IMAGES) or 0) > 0
            if done:
                del pending[page]
        time.sleep(0.5)
    for page in pending:
        missing = [text for text in wanted[page] if text not in shown[page]]
        pytest.fail(f"TensorBoard's {page} page did not show {missing} within {timeout} s; it showed: {shown[page]}")
    return shown


def test_tensorboard_dashboards_show_the_run_in_a_browser(tmp_path, run_cli):
    run_cli("fit", "--trainer.max_epochs", "1")
    [run] = run_dirs(tmp_path)
    wanted = {  # the run's name and tags, rendered by each dashboard from the run's data
        "scalars": [run.name, "tag: boundary", "train_loss", "val_loss", "test_acc"],
        "images": [run.name, "tag: figures/fitted_sigmoid", "tag: figures/val_precision_recall"],
        "hparams": [run.name, "model.lr", "hp_metric", "ThresholdDataModule()"],
        "pr_curves": [f"{run.name} is at step", "tag: pr_curve/val", "tag: pr_curve/test"],
    }
    with TensorBoardServer(run.parent) as server, Chromium(tmp_path / "chromium") as browser:
        # until the server has read the whole run: the test's scalars and PR curve are written last
        server.wait_for(lambda: "test_acc" in server.get("/data/plugin/scalars/tags").get(run.name, {}))
        server.wait_for(lambda: "pr_curve/test" in server.get("/data/plugin/pr_curves/tags").get(run.name, {}))
        sessions = {page: browser.open(f"http://127.0.0.1:{server.port}/#{page}") for page in wanted}
        shown = shows(browser, sessions, wanted)
    assert "No scalar data was found" not in shown["scalars"]
    assert "No image data was found" not in shown["images"]
