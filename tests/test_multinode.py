"""Multi-node DDP as docs/scale.md runs it: two torchrun "nodes" on this machine, one CPU process each (gloo).

Each node is its own torchrun agent with its node rank, meeting at 127.0.0.1 (the docs' HOST0) on a free port, and
running `-m logreg fit` with `--trainer.num_nodes 2 --trainer.devices 1`: the same launch a two-machine job makes,
with one process per node instead of four GPUs.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import logreg
from conftest import _ENVIRONMENT, run_dirs
from test_scale import logged_scalars

COMMON = ("--data.n_features", "3", "--data.n_samples", "400", "--data.label_noise", "0.2",
          "--data.batch_size", "16", "--model.lr", "0.5")  # fmt: skip


def torchrun() -> list[str]:
    """The ``torchrun`` beside this Python (its console script), or the module it runs."""
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "torch.distributed.run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node_command(node_rank: int, port: int) -> list[str]:
    """docs/scale.md's torchrun line for one node, with 1 process per node on the CPU."""
    return [*torchrun(), "--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(node_rank),
            "--master_addr", "127.0.0.1", "--master_port", str(port),
            "-m", "logreg", "fit", "--trainer.num_nodes", "2", "--trainer.devices", "1", "--trainer.strategy", "ddp",
            "--trainer.accelerator", "cpu", *COMMON, "--trainer.max_epochs", "2"]  # fmt: skip


@pytest.mark.slow
def test_two_torchrun_nodes_train_one_run_whose_test_matches_a_single_process(tmp_path, run_cli):
    env = {key: value for key, value in os.environ.items() if key not in _ENVIRONMENT}
    src = str(Path(logreg.__file__).parents[1])  # the logreg under test, also when PYTHONPATH is relative
    env.update(PYTHONWARNINGS="ignore", PYTHONPATH=os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")])))
    port = free_port()
    nodes = [subprocess.Popen(node_command(rank, port), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for rank in (0, 1)]  # fmt: skip
    try:
        outputs = [node.communicate(timeout=240)[0] for node in nodes]
    except subprocess.TimeoutExpired:  # both nodes' output, for the reason (a node waits for the other one)
        for node in nodes:  # SIGTERM, on which a torchrun agent stops its workers first
            node.terminate()
        outputs = []
        for node in nodes:
            try:
                outputs.append(node.communicate(timeout=30)[0])
            except subprocess.TimeoutExpired:
                node.kill()
                outputs.append(node.communicate()[0])
        pytest.fail("\n".join(["a node did not end in 240 s", *(f"node {r}:\n{out}" for r, out in enumerate(outputs))]))
    for rank, (node, output) in enumerate(zip(nodes, outputs, strict=True)):
        assert node.returncode == 0, f"node {rank} exited {node.returncode}\n{output}"
    assert "test_acc" in outputs[0] and "test_acc" not in outputs[1]  # the summary and results: rank 0 only

    [run] = run_dirs(tmp_path)  # one run for both nodes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lightning_logs"]
    [best] = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    run_cli("test", "--ckpt_path", str(best), *COMMON, "--trainer.accelerator", "cpu")  # one process, in-process
    double, single = (logged_scalars(run) for run in run_dirs(tmp_path))
    # 400 rows, test_fraction 0.2: 80 test rows, 40 on each node; the metrics' states are summed across nodes
    assert single["test_acc"] == double["test_acc"]  # the same float32, not just close
    assert abs(single["test_loss"] - double["test_loss"]) < 1e-6
