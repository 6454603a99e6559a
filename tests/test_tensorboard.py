"""TensorBoard as a user sees it: the real server's HTTP data API, and the figures behind it."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import figures_off, run_dirs
from logreg import LogisticRegression, ThresholdDataModule
from logreg.report import plots
from logreg.report.figures import TrainingFigures

pytestmark = pytest.mark.figures  # these tests read the figures back


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


@pytest.mark.slow
def test_tensorboard_server_shows_scalars_hparams_and_images(tmp_path, run_cli):
    run_cli("fit", "--trainer.max_epochs", "3")
    [run] = run_dirs(tmp_path)
    with TensorBoardServer(run.parent) as server:
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
