"""A checkpoint as an ONNX graph for serving without logreg (the command: ``logreg export``, :mod:`logreg.cli.export`).

The graph is the model's own ``forward``: raw float32 feature rows ``features`` (B, D), any B, in; ``probability``
(B, 1) = p(y=1) out, with the standardisation and the sigmoid inside. The decision is left to the server, with what
it needs in the model's ``metadata_props``: ``classes`` and ``feature_names`` (JSON lists), ``threshold`` and
``logreg_version``. Exported with torch's default exporter, ``torch.onnx.export(dynamo=True)``, which needs
``onnx`` and ``onnxscript`` (the ``export`` extra, with ``onnxruntime`` to serve). They are imported only here, so
that the other commands never load them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from logreg.checkpoint import LoadedModel
    from logreg.model.logistic import LogisticRegression

INPUT_NAME = "features"
OUTPUT_NAME = "probability"
EXTRA_HINT = "pip install 'logreg[export]'"


def export_metadata(loaded: LoadedModel) -> dict[str, str]:
    """The ONNX model's ``metadata_props``, all strings: classes and feature names (JSON lists; ``x0, x1, ...`` for
    data without names), the threshold the model decides with (its buffer, given or tuned, in float32 as ``logreg
    predict`` compares with it), and the logreg version that wrote the file."""
    from logreg.data.indexed import default_names

    model = loaded.model
    names = loaded.feature_names or default_names(int(model.hparams.n_inputs))
    return {
        "classes": json.dumps([str(c) for c in loaded.classes]),
        "feature_names": json.dumps(names),
        "threshold": repr(float(model.threshold.float())),
        "logreg_version": logreg_version(),
    }


def logreg_version() -> str:
    """The installed logreg's version, as ``pip show logreg`` gives it."""
    try:
        return version("logreg")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def to_onnx(model: LogisticRegression, metadata: dict[str, str]) -> bytes:
    """The serialised ONNX model of ``model.forward`` with a dynamic batch axis, and ``metadata`` in its props."""
    onnx = require_extra()
    example = torch.zeros(2, model.hparams.n_inputs)  # (B, D); B is exported as a symbol
    with torch.no_grad(), quiet_logger("torch.onnx"):
        program = torch.onnx.export(
            Probability(model).eval(),  # (a new module is in training mode: the exporter would warn)
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    proto.doc_string = (f"logreg logistic regression: {INPUT_NAME} (batch, {model.hparams.n_inputs}) raw float32 rows "
                        f"-> {OUTPUT_NAME} (batch, 1) = p(y=1); class 1 where probability > threshold")  # fmt: skip
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


class Probability(torch.nn.Module):
    """The graph to export: ``sigmoid(linear((x - mean) / scale))`` of the model's own tensors, for any batch.

    Not ``model.forward`` itself, which picks its arithmetic by batch size (it folds the standardisation into the
    weights for large batches, a speed choice of training): torch.export cannot keep a branch on the batch size
    of a dynamic batch axis.
    """

    def __init__(self, model: LogisticRegression) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        model = self.model
        return torch.sigmoid(model.linear((features - model.feature_mean) / model.feature_scale))


@contextlib.contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """Only errors from logger ``name`` for a while: the exporter warns about each torchvision operator it cannot
    register (torchvision plays no part here)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def require_extra() -> Any:
    """The ``onnx`` module, once the exporter's packages are known to be installed; otherwise one line saying how."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's dynamo exporter builds the graph with it)
    except ImportError as err:
        missing = err.name or "onnx"
        raise ValueError(f"logreg export needs {missing}, which is not installed: {EXTRA_HINT}") from None
    return onnx
