"""Scale: memory-mapped data, mixed precision, DDP on two CPU processes.

(Full-batch LBFGS is checked against scikit-learn in test_model.py.)
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import run_dirs, run_logreg
from logreg import FileDataModule, LogisticRegression, ThresholdDataModule


def write_npy_dir(path, rows, features, seed=0, label_noise=0.0):
    """``x.npy`` and ``y.npy`` (label 1 where x0 > x1, each flipped with probability ``label_noise``) in ``path``."""
    path.mkdir()
    generator = np.random.default_rng(seed)
    x = generator.standard_normal((rows, features), dtype=np.float32)
    flip = generator.random(rows) < label_noise
    np.save(path / "x.npy", x)
    np.save(path / "y.npy", ((x[:, 0] - x[:, 1] > 0) ^ flip).astype(np.int8))
    return path


@pytest.mark.slow
def test_memory_mapped_directory_trains_and_predicts(tmp_path, run_cli):
    write_npy_dir(tmp_path / "big", 3000, 4)
    data = FileDataModule(tmp_path / "big")
    assert isinstance(data.features, np.memmap)
    run_cli("fit", "--data", "FileDataModule", "--data.path", "big", "--data.batch_size", "256",
            "--model.lr", "0.5", "--trainer.max_epochs", "3")  # fmt: skip
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    run_cli("predict", "--ckpt_path", ckpt, "--data", "FileDataModule", "--data.path", "big",
            "--predictions", "out.csv")  # fmt: skip
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "probability,predicted_label,label,split" and len(lines) == 3001  # the run's own data
    agree = sum(row.split(",")[1] == row.split(",")[2] for row in lines[1:])
    assert agree / 3000 > 0.95


RSS_SCRIPT = r"""
import ctypes, sys, warnings, logging
warnings.filterwarnings("ignore")
logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
from lightning.pytorch import Trainer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from logreg import FileDataModule, LogisticRegression, ThresholdDataModule

def anon_kib():
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # count memory in use, not what malloc keeps for reuse
    line = next(l for l in open("/proc/self/status") if l.startswith("RssAnon:"))
    return int(line.split()[1])

def trainer():
    return Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu")

trainer().fit(LogisticRegression(), ThresholdDataModule())  # warm up torch and Lightning first
data = FileDataModule(sys.argv[1], batch_size=4096)
before = anon_kib()
trainer().fit(LogisticRegression(n_inputs=data.n_features, lr=0.5), data)
print((anon_kib() - before) * 1024)
"""


@pytest.mark.slow
def test_training_on_a_memory_map_does_not_read_it_into_anonymous_memory(tmp_path):
    """In a fresh process: the pytest process's memory already holds other tests' allocations."""
    directory = write_npy_dir(tmp_path / "big", 200_000, 32)  # 24 MiB: a read into memory would add all of it
    size = (directory / "x.npy").stat().st_size
    proc = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(directory)], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    growth = int(proc.stdout.strip().splitlines()[-1])
    assert growth < size / 4, f"anonymous RSS grew by {growth / 2**20:.1f} MiB for a {size / 2**20:.1f} MiB file"


def test_bf16_mixed_precision_trains_on_cpu(tiny_trainer):
    data = ThresholdDataModule(n_features=4, n_samples=800, batch_size=32)
    model = LogisticRegression(n_inputs=4, lr=0.5)
    trainer = tiny_trainer(max_epochs=3, precision="bf16-mixed", accelerator="cpu")
    trainer.fit(model, data)
    assert trainer.callback_metrics["val_acc"] > 0.9
    assert model.linear.weight.dtype == torch.float32  # mixed: parameters stay float32


@pytest.mark.parametrize("precision", ["bf16-true", "16-true"])
def test_half_precision_parameters_train_through_the_cli(run_cli, precision):
    """``--trainer.precision bf16-true`` (or 16-true): half-precision parameters. The end-of-fit figures score the
    validation rows with the model itself; float32 rows into half weights must not end the run in a traceback."""
    proc = run_cli("fit", "--data.n_features", "4", "--data.n_samples", "400", "--data.batch_size", "32",
                   "--model.lr", "0.5", "--trainer.max_epochs", "2", "--trainer.precision", precision)  # fmt: skip
    accuracy = {line.split()[0]: float(line.split()[1]) for line in proc.stdout.splitlines() if "_acc " in line}
    assert accuracy["val_acc"] > 0.9 and accuracy["test_acc"] > 0.9


def test_a_half_precision_fit_is_tested_in_float32(tmp_path, run_cli):
    """A ``bf16-true`` fit ends by testing its checkpoint in float32, as ``logreg test`` would: standardising
    features near 1000 in bfloat16 (8 bits of mantissa, steps of 4 there) would throw most of each row away, and the
    printed test accuracy would not be the checkpoint's. Reference: the checkpoint's weights in float64 NumPy."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2)) * [1.0, 3.0] + [1000.0, -500.0]
    y = (rng.random(400) < 1 / (1 + np.exp(-6 * (x[:, 0] - 1000) + (x[:, 1] + 500)))).astype(int)
    lines = [f"{a:.6f},{b:.6f},{label}" for (a, b), label in zip(x, y, strict=True)]
    (tmp_path / "offset.csv").write_text("\n".join(["a,b,label", *lines]) + "\n")
    fit = run_cli("fit", "--data", "FileDataModule", "--data.path", "offset.csv", "--trainer.precision", "bf16-true",
                  "--trainer.max_epochs", "2", "--model.lr", "0.5")  # fmt: skip
    [best] = [p for p in (run_dirs(tmp_path)[0] / "checkpoints").glob("best-*.ckpt")]
    state = {k: v.double().numpy() for k, v in torch.load(best, weights_only=True)["state_dict"].items()}
    data = FileDataModule(tmp_path / "offset.csv")  # the run's seeded split
    data.setup("fit")
    rows = data.test_idx.numpy()
    features = data.features.double().numpy()[rows]  # (float32 in memory, as the model sees them)
    logits = ((features - state["feature_mean"]) / state["feature_scale"]) @ state["linear.weight"][0]
    expected = np.mean((logits + state["linear.bias"][0] > 0) == (data.labels.view(-1).numpy()[rows] == 1))
    assert f"test_acc        {expected:.4f}" in fit.stdout
    assert (
        "tested           the best checkpoint (lowest val_loss), not the final weights above; in float32 (trained "
        "in bf16-true)" in fit.stdout
    )


def logged_scalars(run):
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"]}


OPTIMIZERS = {"L-BFGS": (), "Newton": ("--optimizer", "logreg.model.newton.Newton")}
DDP_DATA = ("--data", "FileDataModule", "--data.path", "d")

# Runs each command of COMMANDS with logreg's ``main``, in turn, in one process, and after each writes the size of
# the process group it ran in to a file of its rank's (the two processes share stdout): Lightning's launcher starts
# rank 1 at the first DDP fit by re-running this script, and the later fits run in the same two processes and group.
DDP_SCRIPT = """
import torch.distributed
from logreg.cli import main

for args in {commands!r}:
    main(args)
    with open(f"{ranks}/rank_{{torch.distributed.get_rank()}}", "a") as ran:
        ran.write(f"{{torch.distributed.get_world_size()}}\\n")
"""


def fit_args(optimizer: str) -> tuple[str, ...]:
    return ("fit", "--config", "lbfgs.yaml", *OPTIMIZERS[optimizer], *DDP_DATA, "--model.l2", "1e-3",
            "--trainer.max_epochs", "2")  # fmt: skip


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """The fits of :func:`test_ddp_on_two_cpu_processes_matches_single_process`, each with DDP on two CPU
    processes, in one launch (a real process: under pytest Lightning's launcher would re-run pytest): the two
    processes' imports (9-10 s each on a slow machine) are paid once, not once per optimizer. Returns the
    directory they ran in (with the data, ``d``) and each optimizer's run."""
    root = tmp_path_factory.mktemp("ddp")
    write_npy_dir(root / "d", 40_000, 3, label_noise=0.2)  # noisy: the test accuracy is no round 1.0
    ddp = ("--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu")
    ranks = tmp_path_factory.mktemp("script")
    script = ranks / "fits.py"
    script.write_text(DDP_SCRIPT.format(commands=[[*fit_args(name), *ddp] for name in OPTIMIZERS], ranks=ranks))
    run_logreg(script=script, cwd=root)
    for rank in (0, 1):  # each process ran each fit in a group of 2
        assert (ranks / f"rank_{rank}").read_text() == "2\n" * len(OPTIMIZERS)
    runs = run_dirs(root)
    assert len(runs) == len(OPTIMIZERS)  # one TensorBoard run per fit, for both processes
    return root, dict(zip(OPTIMIZERS, runs, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_ddp_on_two_cpu_processes_matches_single_process(ddp_runs, tmp_path, run_cli, optimizer):
    """One DDP run, in real processes (see :func:`ddp_runs`): Lightning's launcher re-runs the command for rank 1
    at the first fit (L-BFGS), and the Newton fit runs in the same two processes.
    Full-batch L-BFGS: each rank streams its own chunks (24,000 training rows are two chunks for rank 0 and one for
    rank 1), the sums (Newton's: with the Hessian) are all-reduced, and both ranks take the single process's steps.
    Its final test of the final weights (a full-batch fit's answer; 8,000 rows, each rank its own share) is compared
    with a single-process test of last.ckpt.
    (Mini-batch DDP, with a DistributedSampler, runs in test_multinode.py.)"""
    root, runs = ddp_runs
    run = runs[optimizer]
    assert len(list(run.glob("events.out.tfevents.*"))) >= 1
    assert ("logreg.model.newton.Newton" in (run / "config.yaml").read_text()) == (optimizer == "Newton")
    (tmp_path / "d").symlink_to(root / "d")  # the same data, under the same name
    # fit ended by testing its final weights under DDP, in the same run; test them again in one process
    run_cli("test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), *DDP_DATA, "--data.batch_size", "0",
            "--trainer.precision", "64-true", "--trainer.accelerator", "cpu")  # fmt: skip
    [single_test] = run_dirs(tmp_path)
    double, single = logged_scalars(run), logged_scalars(single_test)
    assert 0.7 < double["test_acc"] < 0.9
    assert single["test_acc"] == double["test_acc"]  # the same float32, not just close
    assert abs(single["test_loss"] - double["test_loss"]) < 1e-6

    run_cli(*fit_args(optimizer), "--trainer.accelerator", "cpu")  # the same fit in one process
    double, single = (torch.load(path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
                      for path in (run, run_dirs(tmp_path)[1]))  # fmt: skip
    assert double["linear.weight"].dtype == torch.float64
    for key in ("linear.weight", "linear.bias"):
        torch.testing.assert_close(double[key], single[key], rtol=1e-9, atol=1e-12)


def test_a_checkpoint_is_evaluated_in_float32_under_a_16_bit_precision(tmp_path, run_cli):
    """``--trainer.precision bf16-true`` (or a ``-mixed`` one) on predict and test evaluates the checkpoint's float32
    weights in float32, as the docs say: in bfloat16 its probabilities were up to 0.01 off and labels flipped."""
    run_cli("fit", "--data.n_features", "3", "--data.n_samples", "400", "--trainer.max_epochs", "2")
    ckpt = str(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    tested = {}
    for precision in ("32", "bf16-true", "bf16-mixed"):
        run_cli("predict", "--ckpt_path", ckpt, "--predictions", f"{precision}.csv", "--trainer.precision", precision)
        tested[precision] = run_cli("test", "--ckpt_path", ckpt, "--trainer.precision", precision).stdout
    plain = (tmp_path / "32.csv").read_text()
    for precision in ("bf16-true", "bf16-mixed"):
        assert (tmp_path / f"{precision}.csv").read_text() == plain  # probabilities as written (float32's digits)
        assert tested[precision] == tested["32"]
