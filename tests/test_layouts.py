"""The undocumented layouts of other libraries that logreg reads, each in one small function: these tests fail if a
library changes one, before a user meets it."""

import pytest
import torch
from lightning.pytorch import Trainer

from logreg.checkpoint import datamodule_key
from logreg.data.arrays import ArrayDataModule
from logreg.model import LogisticRegression
from logreg.sklearn import lbfgs_progress


def test_lightning_keeps_a_data_modules_state_and_its_batch_count_where_logreg_reads_them(tmp_path):
    """``datamodule_key`` (checkpoints) and ``IndexedDataModule._batches_trained`` (the fit loop's batch count)."""
    x = torch.linspace(-1, 1, 40).reshape(-1, 1)
    dm = ArrayDataModule(x.numpy(), (x[:, 0] > 0).long().numpy(), val_fraction=0.0, test_fraction=0.0, batch_size=8)
    trainer = Trainer(max_epochs=1, limit_train_batches=3, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(LogisticRegression(n_inputs=1), dm)
    assert dm._batches_trained() == 3
    trainer.save_checkpoint(tmp_path / "c.ckpt")
    checkpoint = torch.load(tmp_path / "c.ckpt", weights_only=True)
    assert checkpoint[datamodule_key(ArrayDataModule)] == dm.state_dict()


def test_lbfgs_keeps_its_progress_where_logreg_reads_it():
    point = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.LBFGS([point], max_iter=3, max_eval=10, tolerance_grad=0, tolerance_change=0)
    assert lbfgs_progress(optimizer) == (False, 0, 0, None)

    def closure():
        optimizer.zero_grad()
        loss = ((point - torch.tensor([1.0, -2.0])) ** 4).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    started, iterations, evaluations, moved = lbfgs_progress(optimizer)
    assert (started, iterations, evaluations, moved) == (True, 3, 3, True)


def test_lightning_cli_records_a_data_modules_class_where_logreg_reads_it():
    """``fitted_data``: LightningCLI saves ``_class_path`` among a subclass-mode data module's hyperparameters."""
    from lightning.pytorch import LightningDataModule
    from lightning.pytorch.cli import LightningCLI

    from logreg.cli.lightning import fitted_data
    from logreg.data.indexed import IndexedDataModule

    args = ["--data", "logreg.data.threshold.ThresholdDataModule", "--data.batch_size", "4"]
    cli = LightningCLI(LogisticRegression, IndexedDataModule, subclass_mode_data=True, run=False, args=args)
    checkpoint = {LightningDataModule.CHECKPOINT_HYPER_PARAMS_KEY: dict(cli.datamodule.hparams)}
    data = fitted_data(checkpoint, "x.ckpt")
    assert data["class_path"].endswith("ThresholdDataModule") and data["init_args"]["batch_size"] == 4


def test_model_checkpoint_keeps_its_directory_where_logreg_reads_it(tmp_path):
    """``fit_directory``: a ModelCheckpoint's state is saved under a key starting with its class name, with
    ``dirpath`` as the run spelled it (relative to the directory the fit ran in)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from logreg.cli.lightning import fit_directory

    callback = ModelCheckpoint()
    callback.dirpath = "lightning_logs/version_0/checkpoints"  # as Lightning sets it from the logger's log_dir
    checkpoint = {"callbacks": {callback.state_key: callback.state_dict()}}
    assert fit_directory(checkpoint, str(tmp_path / "lightning_logs/version_0/checkpoints/last.ckpt")) == tmp_path


def test_torch_names_what_a_refused_pickle_would_load_where_logreg_reads_it(tmp_path):
    """``refused_global``: ``torch.load(weights_only=True)`` says which global it refused only in its message."""
    import os
    import pickle

    from logreg.checkpoint import refused_global

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"state_dict": Evil()}, tmp_path / "evil.ckpt")
    with pytest.raises(pickle.UnpicklingError) as refused:
        torch.load(tmp_path / "evil.ckpt", weights_only=True)
    assert refused_global(refused.value) == f"{os.system.__module__}.system"


def test_a_summary_writer_keeps_its_events_file_writer_where_logreg_reads_it(tmp_path):
    """``event_writer``: a ``SummaryWriter``'s writer of its own events file (where the HPARAMS entry goes)."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams

    from logreg.cli.loggers import event_writer

    writer = SummaryWriter(tmp_path)
    for summary in hparams({"model.lr": 0.5}, {"hp_metric": 0.0}):
        event_writer(writer).add_summary(summary)
    writer.close()
    [events] = tmp_path.glob("events.out.tfevents.*")
    assert b"hparams" in events.read_bytes()
