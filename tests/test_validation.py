"""When a fit validates: a full-batch fit (Newton, L-BFGS) once, on its final weights, unless asked for every epoch."""

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import run_dirs


def write_noisy(path, n: int = 300) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-x @ [1.5, -1.0, 0.5, 0.0]))).astype(int)
    rows = [",".join(f"{v:.5f}" for v in r) + f",{t}" for r, t in zip(x, y, strict=True)]
    path.write_text("\n".join(["a,b,c,d,label", *rows]) + "\n")


def logged_steps(run, tag: str) -> list[int]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return [event.step for event in events.Scalars(tag)]


def test_a_converged_newton_fit_validates_once_on_its_final_weights(tmp_path, run_cli):
    """``--config tabular.yaml`` converges in a few epochs and validates only in the last: one ``val_loss`` point, at
    the last epoch's step; the printed val_loss is torch's BCELoss of last.ckpt's weights on the validation rows, and
    the best checkpoint is that epoch's."""
    from logreg import FileDataModule

    write_noisy(tmp_path / "d.csv")
    fit = run_cli("fit", "--config", "tabular", "--data.path", "d.csv")
    [run] = run_dirs(tmp_path)
    epochs, validations = logged_steps(run, "train_loss"), logged_steps(run, "val_loss")
    assert len(epochs) > 2 and validations == epochs[-1:]
    [best] = (run / "checkpoints").glob("best-*.ckpt")
    assert best.name.startswith(f"best-epoch={len(epochs) - 1}-")

    data = FileDataModule(tmp_path / "d.csv")  # the run's seeded split
    data.setup("fit")
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    rows = data.val_idx
    scaled = (data.features[rows].double() - state["feature_mean"].double()) / state["feature_scale"].double()
    probs = torch.sigmoid(scaled @ state["linear.weight"].double().view(-1) + state["linear.bias"].double())
    loss = torch.nn.BCELoss()(probs, data.labels[rows].view(-1).double()).item()
    assert f"val_loss         {loss:.4f}" in fit.stdout


@pytest.mark.parametrize(
    ("asked", "validations"),
    [((), 1), (("--validation.every_epoch", "true"), 3), (("--early_stopping.patience", "50"), 3)],
    ids=["once", "every_epoch", "early_stopping"],
)
def test_full_batch_lbfgs_validates_at_max_epochs_or_every_epoch_when_asked(tmp_path, run_cli, asked, validations):
    write_noisy(tmp_path / "d.csv")
    run_cli("fit", "--config", "lbfgs", "--data", "FileDataModule", "--data.path", "d.csv", "--optimizer.max_iter", "2",
            "--trainer.max_epochs", "3", *asked)  # fmt: skip
    [run] = run_dirs(tmp_path)
    epochs = logged_steps(run, "train_loss")
    assert len(epochs) == 3 and logged_steps(run, "val_loss") == epochs[-validations:]
