"""GPU-only paths, run where CUDA exists (marked ``gpu``; skipped elsewhere, such as CI, with the reason in ``-ra``),
and the harness that runs them on a GPU machine (everywhere).

``scripts/gpu_check.sh`` runs this module and ``scripts/bench.py --device cuda`` and prints their numbers
(``record_property``, the bench's rows) in one table. None of the GPU tests has run on a GPU yet: the machines this
was written on had none.
"""

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from conftest import CONFIGS, REPO, call_main, run_dirs, run_logreg
from logreg import FileDataModule, LogisticRegression, ThresholdDataModule
from test_scale import logged_scalars

sys.path.insert(0, str(REPO / "scripts"))
import bench_figures  # scripts/ is no package
import bench_gpu


def needs_cuda(test):
    """Marks ``test`` ``gpu`` and skips it where torch finds no CUDA device."""
    reason = "needs a CUDA device (torch.cuda.is_available() False)"
    return pytest.mark.gpu(pytest.mark.skipif(not torch.cuda.is_available(), reason=reason)(test))


def record_batches(model: LogisticRegression) -> list[tuple[str, bool]]:
    """(device type, pinned) of each training batch's features as the DataLoader hands it over, before Lightning
    moves it to the device (``on_before_batch_transfer``, a LightningModule hook, set on this one model)."""
    seen: list[tuple[str, bool]] = []

    def on_before_batch_transfer(batch, dataloader_idx):
        if model.trainer.training:
            x = batch[0]
            seen.append((x.device.type, x.device.type == "cpu" and x.is_pinned()))
        return batch

    model.on_before_batch_transfer = on_before_batch_transfer
    return seen


def final_weights(run):
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return torch.cat([state["linear.weight"].view(-1), state["linear.bias"].view(-1)]).double()


@needs_cuda
def test_tutorial_config_on_cuda_ends_within_1e_4_of_the_cpu_run(run_cli, tmp_path, record_property):
    tutorial = str(CONFIGS / "tutorial.yaml")
    run_cli("fit", "--config", tutorial, "--trainer.accelerator", "cpu")
    run_cli("fit", "--config", tutorial, "--trainer.accelerator", "gpu", "--trainer.devices", "1")
    cpu, gpu = run_dirs(tmp_path)
    difference = (final_weights(cpu) - final_weights(gpu)).abs().max().item()
    loss_difference = abs(logged_scalars(cpu)["train_loss"] - logged_scalars(gpu)["train_loss"])
    record_property("max |weight, bias difference|", f"{difference:.2e}")
    record_property("|train_loss difference|", f"{loss_difference:.2e}")
    assert difference < 1e-4 and loss_difference < 1e-4


@needs_cuda
def test_newton_on_cuda_ends_within_1e_6_of_the_cpu_run(run_cli, tmp_path, record_property):
    """``--config tabular.yaml`` (full-batch Newton in float64, standardised, C=1) on the same memory-mapped rows:
    the Hessian's Cholesky solve on the GPU reaches the CPU's minimum."""
    pytest.importorskip("logreg.model.newton", reason="the Newton solver (issue 27) does not import here")
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 6))
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", (z * [1, 2, 5, 10, 0.5, 1] + [0, 3, -1, 50, 0, 2]).astype(np.float32))
    np.save(tmp_path / "d" / "y.npy", (z @ rng.standard_normal(6) + rng.logistic(size=3000) > 0).astype(np.int8))
    tabular = ("fit", "--config", str(CONFIGS / "tabular.yaml"), "--data.path", str(tmp_path / "d"))
    run_cli(*tabular, "--trainer.accelerator", "cpu")
    run_cli(*tabular, "--trainer.accelerator", "gpu", "--trainer.devices", "1")
    cpu, gpu = run_dirs(tmp_path)
    difference = (final_weights(cpu) - final_weights(gpu)).abs().max().item()
    record_property("max |weight, bias difference|", f"{difference:.2e}")
    assert difference < 1e-6


@needs_cuda
@pytest.mark.parametrize("precision", ["16-mixed", "bf16-mixed"])
def test_mixed_precision_trains_and_ends_finite(precision, tiny_trainer, record_property):
    if precision == "bf16-mixed" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU does not support bfloat16")
    data = ThresholdDataModule(n_features=4, n_samples=800, batch_size=32)
    model = LogisticRegression(n_inputs=4, lr=0.5)
    trainer = tiny_trainer(max_epochs=3, accelerator="gpu", devices=1, precision=precision)
    trainer.fit(model, data)
    val_loss = float(trainer.callback_metrics["val_loss"])
    record_property("val_loss", f"{val_loss:.4f}")
    record_property("val_acc", f"{float(trainer.callback_metrics['val_acc']):.4f}")
    assert torch.isfinite(model.linear.weight).all() and torch.isfinite(model.linear.bias).all()
    assert np.isfinite(val_loss) and trainer.callback_metrics["val_acc"] > 0.9
    assert model.linear.weight.dtype == torch.float32  # mixed: parameters stay float32


@needs_cuda
def test_in_memory_data_is_resident_on_the_gpu_and_batches_need_no_host_copy(tiny_trainer, record_property):
    data = ThresholdDataModule(n_features=4, n_samples=2000, batch_size=64)
    model = LogisticRegression(n_inputs=4, lr=0.5)
    seen = record_batches(model)
    trainer = tiny_trainer(max_epochs=2, accelerator="gpu", devices=1)
    trainer.fit(model, data)
    record_property("training batches", len(seen))
    record_property("of them already on the GPU", sum(device == "cuda" for device, _ in seen))
    assert seen and all(device == "cuda" for device, _ in seen)  # no host-to-device copy per step
    first, second = data.train_dataloader(), data.train_dataloader()
    assert first.dataset.features.data_ptr() == second.dataset.features.data_ptr()  # copied to the GPU once
    assert not first.pin_memory
    assert trainer.callback_metrics["val_acc"] > 0.9


@needs_cuda
def test_the_data_checksum_of_rows_resident_on_the_gpu_is_the_hosts():
    """A checkpoint's fingerprint of a file whose rows were copied to the GPU (``values_checksum``, first made at a
    checkpoint, after the copy) reads them back to the host: the same digits as of the host's rows."""
    from logreg.data.indexed import values_checksum

    x = torch.from_numpy(np.random.default_rng(0).standard_normal((5000, 3), dtype=np.float32))
    y = (x[:, :1] > 0).float()
    assert values_checksum(x.cuda(), y.cuda()) == values_checksum(x, y)
    assert values_checksum(x.cuda(), y.cuda(), flip=True) == values_checksum(x, y, flip=True)


@needs_cuda
def test_memory_mapped_data_is_gathered_on_the_host_into_pinned_memory(tmp_path, tiny_trainer, record_property):
    x = np.random.default_rng(0).standard_normal((3000, 3), dtype=np.float32)
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "x.npy", x)
    np.save(tmp_path / "d" / "y.npy", (x[:, 0] > 0).astype(np.int8))
    data = FileDataModule(tmp_path / "d", batch_size=256)
    assert isinstance(data.features, np.memmap)
    model = LogisticRegression(n_inputs=3, lr=0.5)
    seen = record_batches(model)
    trainer = tiny_trainer(max_epochs=1, accelerator="gpu", devices=1)
    trainer.fit(model, data)
    record_property("training batches", len(seen))
    record_property("of them pinned on the host", sum(pinned for _, pinned in seen))
    assert seen and all(device == "cpu" and pinned for device, pinned in seen)
    assert trainer.callback_metrics["val_acc"] > 0.9


@needs_cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason=f"needs 2 CUDA devices, found {torch.cuda.device_count()}")
def test_ddp_on_two_gpus_matches_one_gpu(tmp_path, run_cli, record_property):
    """As test_multinode's CPU DDP run (the same data and flags), launched as test_scale's: a real process
    (Lightning's launcher re-runs the command for rank 1)."""
    common = ("--data.n_features", "3", "--data.n_samples", "400", "--data.label_noise", "0.2",
              "--data.batch_size", "16", "--model.lr", "0.5")  # fmt: skip
    run_logreg("fit", *common, "--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "gpu",
               "--trainer.max_epochs", "2", cwd=tmp_path)  # fmt: skip
    [run] = run_dirs(tmp_path)
    [best] = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    run_cli("test", "--ckpt_path", str(best), *common, "--trainer.accelerator", "gpu", "--trainer.devices", "1")
    double, single = (logged_scalars(run) for run in run_dirs(tmp_path))
    record_property("test_acc (2 GPUs / 1 GPU)", f"{double['test_acc']:.4f} / {single['test_acc']:.4f}")
    record_property("|test_loss difference|", f"{abs(single['test_loss'] - double['test_loss']):.2e}")
    assert single["test_acc"] == double["test_acc"]
    assert abs(single["test_loss"] - double["test_loss"]) < 1e-6


# -- the harness: scripts/gpu_check.sh's table and the bench's commands (no GPU needed) ---------------------------


def test_gpu_check_table_has_each_test_and_each_bench_row_with_its_columns(tmp_path):
    suite = ET.Element("testsuite")
    passed = ET.SubElement(suite, "testcase", name="test_a")
    ET.SubElement(ET.SubElement(passed, "properties"), "property", name="val_loss", value="0.31")
    ET.SubElement(ET.SubElement(suite, "testcase", name="test_b"), "skipped", message="needs 2 CUDA devices, found 1")
    ET.SubElement(ET.SubElement(suite, "testcase", name="test_c"), "failure", message="assert 0.2 < 0.1\nmore")
    ET.ElementTree(suite).write(tmp_path / "gpu.xml")
    (tmp_path / "bench.txt").write_text(
        "logreg benchmark: torch 2.11\n\n11. full batch on 10,000,000 x 32\n"
        "                      wall s  per sklearn\n"
        "   sklearn lbfgs script (CPU)   7.10   1.00\n"
        "   logreg Newton rows  skipped: logreg.model.newton.Newton does not import\n"
        "   logreg 16-mixed  skipped: Lightning runs 16-mixed on CUDA only\n"
        "   logreg Newton, streamed from x.npy  FAILED: exit 1: RuntimeError: CUDA error\n"
        "   (sklearn: the first 60% of the rows)\n"
        "Traceback: killed\n"
    )
    rows = bench_gpu.table(tmp_path, 124)
    assert rows == [
        ("test_a", "passed", "val_loss 0.31"),
        ("test_b", "skipped", "needs 2 CUDA devices, found 1"),
        ("test_c", "FAILED", "assert 0.2 < 0.1"),
        ("bench 11. sklearn lbfgs script (CPU)", "ran", "7.10 1.00 (wall s per sklearn)"),
        ("bench 11. logreg Newton rows", "skipped", "skipped: logreg.model.newton.Newton does not import"),
        ("bench 11. logreg 16-mixed", "skipped", "skipped: Lightning runs 16-mixed on CUDA only"),
        ("bench 11. logreg Newton, streamed from x.npy", "FAILED", "FAILED: exit 1: RuntimeError: CUDA error"),
        ("bench 11. note", "note", "(sklearn: the first 60% of the rows)"),
        ("bench.py --device cuda", "FAILED (timed out)", "Traceback: killed"),
    ]


def test_bench_solver_commands_parse_as_meant(tmp_path, monkeypatch):
    """The full-batch commands of the GPU bench and the scaling figure, as the CLI parses them (``--print_config``):
    the recipe, the data, the stopping rule and the device. Newton's are checked with L-BFGS's class in its place
    until ``logreg.model.newton.Newton`` imports."""
    if bench_figures.newton_missing():
        monkeypatch.setattr(bench_figures, "NEWTON", "torch.optim.LBFGS")
    assert bench_figures.newton_missing() is None
    names = bench_figures.scaling_commands(tmp_path, "cpu", 3, 1)
    assert names["logreg Newton (to tol 1e-4)"] == bench_figures.solver_command("newton", tmp_path, "cpu", tol=1e-4)
    for solver, config in (("lbfgs", "lbfgs.yaml"), ("newton", "tabular.yaml")):
        command = bench_figures.solver_command(solver, tmp_path / "data.npz", "cuda", tol=1e-4)
        assert command[1:5] == ["-m", "logreg", "fit", "--config"] and command[5] == config
        printed = call_main(*command[3:], "--print_config", cwd=tmp_path).stdout
        for line in (f"class_path: {bench_figures.NEWTON if solver == 'newton' else 'torch.optim.LBFGS'}",
                     f"path: {tmp_path / 'data.npz'}", "batch_size: 0", "tol: 0.0001", "accelerator: gpu"):  # fmt: skip
            assert line in printed, (solver, line)
    monkeypatch.setattr(bench_figures, "NEWTON", "logreg.no_such_module.Newton")
    assert "No module named 'logreg.no_such_module'" in bench_figures.newton_missing()
    assert list(bench_figures.scaling_commands(tmp_path, "cpu", 3, 1)) == [
        "logreg L-BFGS (full batch)", "logreg SGD (batch 4096)", "sklearn lbfgs script"]  # fmt: skip
