"""What ``logreg`` says about itself: ``--version``, the subcommands, fit's common flags; without importing torch
or Lightning (versions from the package metadata), so that ``logreg --version`` and ``logreg`` answer at once."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

VERSIONED = ("logreg", "torch", "lightning", "torchmetrics")

SUBCOMMANDS = {  # one line each, in the order a new user meets them
    "fit": "train a model (no flags: the tutorial's experiment; --config tabular.yaml --data.path FILE: your table)",
    "validate": "evaluate a checkpoint on its run's validation rows (--ckpt_path CKPT; other data: --data.path FILE)",
    "test": "evaluate a checkpoint on its run's test rows and print its coefficients (--ckpt_path CKPT)",
    "predict": "predict with a checkpoint (--ckpt_path CKPT): a preview, or every row with --predictions FILE.csv",
    "convert": "turn a CSV or Parquet file into a memory-mapped directory, for data larger than memory",
    "export": "export a checkpoint to ONNX",
}


def versions() -> str:
    """``NAME VERSION``, one line each, for logreg and the libraries its results depend on."""
    lines = []
    for name in VERSIONED:
        try:
            lines.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            lines.append(f"{name} not installed")
    return "\n".join(lines)


def overview() -> str:
    """What ``logreg`` with no arguments prints: how to call it, and each subcommand in one line."""
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {line}" for name, line in SUBCOMMANDS.items()]
    usage = "usage: logreg SUBCOMMAND [flags]       (logreg SUBCOMMAND --help: its flags)"
    return "\n".join([usage, "", "subcommands:", *lines, "", "also: logreg --help, logreg --version"])


FIT_EPILOG = """common flags (the rest: --model.* and --trainer.* above; a class's own flags with
--data.help FileDataModule, --optimizer.help Adam, --lr_scheduler.help StepLR):
  --config tabular.yaml          the recipe for your own table (standardised, L2 as sklearn's C=1, L-BFGS)
  --data FileDataModule          your data instead of the tutorial's generated points (--data.path implies it)
  --data.path FILE               a CSV or Parquet file with a header (or an .npz, or a logreg convert directory)
  --data.label NAME              the label column (default: label)
  --trainer.max_epochs N         epochs (default 50)
  --optimizer NAME               any torch optimizer, e.g. Adam --optimizer.lr 0.05 (default: SGD, --model.lr 2)
  --model.C C, --model.l2 L2     an L2 penalty: scikit-learn's C (inf: none), or l2 / 2 * |w|^2 (default: none)
  --model.threshold T            predict the positive class above probability T (default 0.5)
  --trainer.accelerator cpu|gpu  where to train (default: auto, a GPU when there is one)"""
