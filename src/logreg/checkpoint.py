"""Where a checkpoint file becomes a model, for ``logreg predict|test|validate``, ``logreg export`` and
``LogisticRegressionClassifier.load``: loaded with ``weights_only=True`` (a crafted pickle cannot run code), checked."""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from logreg.data.indexed import default_names
from logreg.model.logistic import LogisticRegression

ESTIMATOR_KEY = "LogisticRegressionClassifier"  # the scikit-learn estimator's own part of its checkpoints


@dataclass(frozen=True)
class LoadedModel:
    """A checkpoint's model, the label values of class 0 and 1 (an estimator's as given; the CLI's as text) and the
    training columns' names (None: none)."""

    checkpoint: dict[str, Any]
    model: LogisticRegression
    classes: list[Any]
    feature_names: list[str] | None


def load_model(path: str | Path, model_class: type[LogisticRegression] = LogisticRegression) -> LoadedModel:
    """The checked checkpoint at ``path`` as a ``model_class`` model in eval mode with its classes and feature names:
    float64 when saved so (bitwise the fitted model), else float32 (half precision converts exactly, bfloat16 not)."""
    checkpoint = check_checkpoint(str(path))
    weight = checkpoint["state_dict"]["linear.weight"]
    # (LightningCLI adds "_instantiator": its own, not an argument of the model)
    hparams = {k: v for k, v in checkpoint.get("hyper_parameters", {}).items() if k != "_instantiator"}
    model = model_class(**{"n_inputs": weight.shape[1], **hparams})
    if weight.dtype == torch.float64:
        model = model.double()
    model.on_load_checkpoint(checkpoint)
    try:
        model.load_state_dict(checkpoint["state_dict"])  # copies into the model's own float32/float64 tensors
    except RuntimeError as err:  # tensors the model does not have
        raise ValueError(f"{path}: not a logreg checkpoint ({str(err).strip().splitlines()[-1].strip()})") from None
    classes, names = data_description(checkpoint, int(model.hparams.n_inputs))
    return LoadedModel(checkpoint, model.eval(), classes, names)


def datamodule_key(datamodule_class: type) -> str:
    """The key of a data module's ``state_dict()`` in a Lightning checkpoint: its class's ``__qualname__``
    (undocumented: relied on only here, checked in tests/test_layouts.py)."""
    return datamodule_class.__qualname__


def data_description(checkpoint: dict[str, Any], n_inputs: int) -> tuple[list[Any], list[str] | None]:
    """The label values of class 0 and 1 and the feature names (None: none) from an estimator's part or a logreg data
    module's state (``x0, x1, ...``: no names); ``[0, 1]`` and None for a model trained on other data."""
    estimator = checkpoint.get(ESTIMATOR_KEY)
    if isinstance(estimator, dict) and len(estimator.get("classes") or ()) == 2:
        names = estimator.get("feature_names_in")
        return list(estimator["classes"]), None if names is None else list(map(str, names))
    for value in checkpoint.values():
        if isinstance(value, dict) and {"classes", "feature_names"} <= value.keys():
            classes, names = list(map(str, value["classes"])), list(map(str, value["feature_names"]))
            if len(classes) == 2 and len(names) == n_inputs:
                return classes, None if names == default_names(n_inputs) else names
    return [0, 1], None


def check_checkpoint(path: str) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True``, or fail with one line naming it: missing, unloadable, refused (a
    pickle that would run code), not a logreg checkpoint (its tensors missing, of other shapes, or not finite)."""
    if Path(path).is_dir():
        raise IsADirectoryError(f"--ckpt_path {path}: is a directory, not a checkpoint file")
    if not Path(path).is_file():
        raise FileNotFoundError(f"--ckpt_path {path}: checkpoint file not found")
    if problem := not_torch_file(path):  # before torch.load, whose messages name no cause a user would know
        raise ValueError(f"--ckpt_path {path}: not a checkpoint ({problem})")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = refused_global(err)
        if refused is None:
            raise ValueError(f"--ckpt_path {path}: not a checkpoint (a damaged pickle: {first_line(err)})") from None
        reason = f"it would load {refused}" if refused else "it holds more than tensors and plain values"
        raise ValueError(f"{path}: refused to load, not a plain-weights checkpoint ({reason})") from None
    except Exception as err:
        raise ValueError(f"--ckpt_path {path}: not a checkpoint ({type(err).__name__}: {first_line(err)})") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path}: not a Lightning checkpoint (no state_dict)")
    if "pytorch-lightning_version" not in checkpoint or not isinstance(checkpoint.get("hyper_parameters", {}), dict):
        raise ValueError(f"{path}: not a Lightning checkpoint (no pytorch-lightning_version or hyper_parameters)")
    n = checkpoint.get("hyper_parameters", {}).get("n_inputs")
    shapes = {"linear.weight": (1, n), "linear.bias": (1,), "feature_mean": (n,), "feature_scale": (n,)}
    for key, shape in shapes.items():
        tensor = checkpoint["state_dict"].get(key)
        if not isinstance(tensor, torch.Tensor):
            raise ValueError(f"{path}: not a logreg checkpoint (no {key} in its state_dict)")
        if n is not None and tuple(tensor.shape) != shape:
            raise ValueError(f"{path}: {key} has shape {tuple(tensor.shape)}, the model needs {shape}")
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{path}: {key} holds NaN or infinite values (a checkpoint of a diverged run?)")
    return checkpoint


def not_torch_file(path: str) -> str | None:
    """What the file at ``path`` is when its bytes show it is none of torch.save's formats (a zip file holding
    ``ARCHIVE/data.pkl``, or a pickle for ``_use_new_zipfile_serialization=False``), else None."""
    with open(path, "rb") as handle:
        start = handle.read(512)
    if not start:
        return "an empty file"
    if start.startswith(b"\x80"):  # a pickle's PROTO opcode: protocol 2 or later, as torch writes
        return None
    if not start.startswith(b"PK\x03\x04"):
        text = all(byte >= 32 or byte in b"\t\n\r" for byte in start)  # no control characters: UTF-8 text
        return "a text file" if text else f"it starts with {start[:4]!r}, not as torch's zip file or pickle"
    if not zipfile.is_zipfile(path):
        return "a truncated or damaged zip file"
    with zipfile.ZipFile(path) as archive:  # (an .npz or a workbook is a zip file too)
        return None if any(name.endswith("/data.pkl") for name in archive.namelist()) else "a zip file not from torch"


def refused_global(err: pickle.UnpicklingError) -> str | None:
    """What a pickle that ``torch.load(weights_only=True)`` refused would load (``os.system``; "" when not said), or
    None for a broken file: torch says it only in its message (checked in tests/test_layouts.py)."""
    if "Weights only load failed" not in str(err):
        return None
    found = re.search(r"GLOBAL ([\w.]+)", str(err))
    return found.group(1) if found else ""


def first_line(err: BaseException) -> str:
    """The first sentence of an exception's message (its type's name if none): torch's go on for lines."""
    return (str(err).strip() or type(err).__name__).splitlines()[0].split(". ")[0]
