"""TensorBoard as a user sees it: the real server's HTTP data API, the run's dashboards in a real browser, and the
figures behind them. One fit and one server serve both the HTTP and the browser test.

``chromium --dump-dom`` cannot see the dashboards: TensorBoard draws them inside shadow roots, which an HTML dump
leaves out. Chromium is driven instead over its DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages ended by a NUL byte, read from file descriptor 3 and written to 4), with the standard library only, and a
script reads the page's text through every shadow root. The browser test is skipped where no ``chromium`` is on PATH
(``scripts/screenshots.sh`` installs Debian's).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import call_main, figures_off, run_dirs
from logreg import LogisticRegression, ThresholdDataModule
from logreg.report import plots
from logreg.report.figures import TrainingFigures

pytestmark = pytest.mark.figures  # these tests read the figures back
CHROMIUM = shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TensorBoardServer:
    """``tensorboard --logdir DIR`` on a free local port, stopped on exit however the test ends."""

    def __init__(self, logdir: Path):
        self.port = free_port()
        tensorboard = Path(sys.executable).with_name("tensorboard")
        self.proc = subprocess.Popen(
            [str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def get(self, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return json.loads(raw) if "json" in response.headers.get("Content-Type", "") else raw

    def wait_for(self, check, timeout: float = 90.0):
        """Poll ``check()`` until it returns something truthy; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "tensorboard exited"
            try:
                result = check()
                if result:
                    return result
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        pytest.fail(f"tensorboard did not answer within {timeout} s")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The default fit of 3 epochs, figures drawn, and ``tensorboard`` serving its ``lightning_logs``: ``(run,
    server)``, once for the HTTP and the browser test (each a fit and a server start otherwise)."""
    root = tmp_path_factory.mktemp("served")
    call_main("fit", "--trainer.max_epochs", "3", cwd=root)  # (a module fixture runs before figures_off's)
    [run] = run_dirs(root)
    with TensorBoardServer(run.parent) as server:
        yield run, server


@pytest.mark.slow
def test_tensorboard_server_shows_scalars_hparams_and_images(served):
    run, server = served
    runs = server.wait_for(lambda: server.get("/data/runs"))
    assert runs == [run.name]
    scalars = server.wait_for(lambda: server.get("/data/plugin/scalars/tags").get(run.name))
    expected = {"train_loss", "train_acc", "val_loss", "val_acc", "val_auroc", "val_f1", "test_loss", "test_acc",
                "weight", "bias", "boundary", "lr", "hp_metric", "hp/test_acc", "val_precision", "val_recall",
                "val_ap", "val_ece", "test_precision", "test_recall", "test_ap", "test_ece"}  # fmt: skip
    assert expected <= set(scalars)
    values = server.get(f"/data/plugin/scalars/scalars?run={run.name}&tag=train_loss")
    assert [step for _, step, _ in values] == [11, 23, 35]  # one point per epoch of 12 steps
    assert values[-1][2] < values[0][2]  # the loss went down
    boundary = server.get(f"/data/plugin/scalars/scalars?run={run.name}&tag=boundary")[-1][2]
    assert -1.0 < boundary < 1.0

    experiment = server.get("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {info["name"] for info in experiment["hparamInfos"]}
    assert {"seed", "data", "model.lr", "model.loss", "model.init_weight", "optimizer", "model.threshold",
            "model.tune_threshold"} <= hparams  # fmt: skip
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"hp_metric", "hp/test_acc"} <= metrics

    images = server.get("/data/plugin/images/tags")[run.name]
    assert {
        "figures/loss_per_iteration",
        "figures/fitted_sigmoid",
        "figures/val_confusion",
        "figures/val_precision_recall",
        "figures/val_reliability",
        "figures/val_roc",
        "figures/test_confusion",
        "figures/test_precision_recall",
        "figures/test_reliability",
    } <= set(images)  # one feature: all of them
    curves = server.get("/data/plugin/pr_curves/tags")[run.name]
    assert {"pr_curve/val", "pr_curve/test"} <= set(curves)
    [curve] = server.get(f"/data/plugin/pr_curves/pr_curves?run={run.name}&tag={quote('pr_curve/test')}")[run.name]
    assert len(curve["precision"]) == len(curve["recall"]) > 2
    [entry] = server.get(f"/data/plugin/images/images?run={run.name}&tag={quote('figures/fitted_sigmoid')}")
    png = server.get(f"/data/plugin/images/individualImage?{entry['query']}")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


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


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium on PATH (scripts/screenshots.sh installs Debian's)")
def test_tensorboard_dashboards_show_the_run_in_a_browser(served, tmp_path):
    run, server = served
    wanted = {  # the run's name and tags, rendered by each dashboard from the run's data
        "scalars": [run.name, "tag: boundary", "train_loss", "val_loss", "test_acc"],
        "images": [run.name, "tag: figures/fitted_sigmoid", "tag: figures/val_precision_recall"],
        "hparams": [run.name, "model.lr", "hp_metric", "ThresholdDataModule()"],
        "pr_curves": [f"{run.name} is at step", "tag: pr_curve/val", "tag: pr_curve/test"],
    }
    # until the server has read the whole run: the test's scalars and PR curve are written last
    server.wait_for(lambda: "test_acc" in server.get("/data/plugin/scalars/tags").get(run.name, {}))
    server.wait_for(lambda: "pr_curve/test" in server.get("/data/plugin/pr_curves/tags").get(run.name, {}))
    with Chromium(tmp_path / "chromium") as browser:
        sessions = {page: browser.open(f"http://127.0.0.1:{server.port}/#{page}") for page in wanted}
        shown = shows(browser, sessions, wanted)
    assert "No scalar data was found" not in shown["scalars"]
    assert "No image data was found" not in shown["images"]


def test_n_feature_run_logs_roc_histogram_and_no_graph(tmp_path, run_cli):
    run_cli("fit", "--trainer.max_epochs", "2", "--data.n_features", "4", "--data.n_samples", "400",
            "--data.batch_size", "16", "--model.lr", "0.5")  # fmt: skip
    events = EventAccumulator(str(run_dirs(tmp_path)[0]), size_guidance={"images": 0})
    events.Reload()
    assert {"figures/val_roc", "figures/val_probabilities", "figures/test_roc", "figures/test_probabilities",
            "figures/loss_per_iteration"} <= set(events.Tags()["images"])  # fmt: skip
    assert not events.Tags()["graph"]  # no traced graph: torch.jit.trace is deprecated (FutureWarning on torch 2.14)


def test_figures_leak_nothing_and_a_failing_figure_only_warns(tmp_path, monkeypatch, tiny_trainer):
    import matplotlib.pyplot as plt

    def broken(*args):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(plots, "fitted_sigmoid", broken)
    from lightning.pytorch.loggers import TensorBoardLogger

    trainer = tiny_trainer(logger=TensorBoardLogger(tmp_path), callbacks=[TrainingFigures()])
    with pytest.warns(UserWarning, match="could not draw figure 'figures/fitted_sigmoid'.*no fonts today"):
        trainer.fit(LogisticRegression(), ThresholdDataModule())
    assert trainer.state.finished
    assert plt.get_fignums() == []


def running_max(values):
    return [max(values[: i + 1]) for i in range(len(values))]


def test_hp_metric_is_the_best_accuracy_so_far_with_or_without_validation(tmp_path, run_cli):
    # noisy labels and a huge learning rate: the accuracy goes down and up again, so best and last differ
    noisy = ("--data.n_features", "3", "--data.n_samples", "200", "--data.label_noise", "0.3", "--model.lr", "20",
             "--data.batch_size", "20")  # fmt: skip
    with figures_off():  # the scalars are under test here, not the figures
        run_cli("fit", "--trainer.max_epochs", "5", *noisy)
        run_cli("fit", "--trainer.max_epochs", "4", *noisy, "--data.val_fraction", "0")
    for run, metric, epochs in zip(run_dirs(tmp_path), ("val_acc", "train_acc"), (5, 4), strict=True):
        events = EventAccumulator(str(run), size_guidance={"scalars": 0})
        events.Reload()
        accuracy = [e.value for e in events.Scalars(metric)]
        best = [e.value for e in events.Scalars("hp_metric")]
        assert len(accuracy) == len(best) == epochs
        assert best == running_max(accuracy) and best != accuracy, (metric, accuracy, best)
        assert events.Scalars("hp/test_acc")[-1].value == events.Scalars("test_acc")[-1].value
