"""A checkpoint as an ONNX graph for serving without logreg (``logreg export``): raw float32 ``features`` (B, D) in,
``probability`` (B, 1) = p(y=1) out; needs ``onnx`` and ``onnxscript`` (the ``export`` extra), imported only here."""

from __future__ import annotations

import importlib
import json
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from logreg.checkpoint import LoadedModel
    from logreg.model.logistic import LogisticRegression

INPUT_NAME, OUTPUT_NAME = "features", "probability"
EXTRA_HINT = "pip install 'logreg[export]'"


def export_metadata(loaded: LoadedModel) -> dict[str, str]:
    """The ONNX model's ``metadata_props``, all strings: classes and feature names (JSON lists), the threshold
    (float32, as ``logreg predict`` compares) and the installed logreg's version ("unknown" in a bare source tree)."""
    from logreg.data.indexed import default_names

    model = loaded.model
    try:
        installed = version("logreg")
    except PackageNotFoundError:
        installed = "unknown"
    return {
        "classes": json.dumps([str(c) for c in loaded.classes]),
        "feature_names": json.dumps(loaded.feature_names or default_names(int(model.hparams.n_inputs))),
        "threshold": repr(float(model.threshold.float())),
        "logreg_version": installed,
    }


def to_onnx(model: LogisticRegression, metadata: dict[str, str]) -> bytes:
    """The serialised ONNX model of :class:`Probability` with a dynamic batch axis, and ``metadata`` in its props."""
    try:
        onnx = importlib.import_module("onnx")
        importlib.import_module("onnxscript")  # torch's dynamo exporter builds the graph with it
    except ImportError as err:
        raise ValueError(f"logreg export needs {err.name or 'onnx'}, which is not installed: {EXTRA_HINT}") from None
    onnx_logger = logging.getLogger("torch.onnx")  # it warns about each torchvision operator it cannot register
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            program = torch.onnx.export(Probability(model).eval(), (torch.zeros(2, model.hparams.n_inputs),),
                                        dynamo=True, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)  # fmt: skip
    finally:
        onnx_logger.setLevel(level)
    proto = program.model_proto
    onnx.helper.set_model_props(proto, metadata)
    proto.doc_string = (f"logreg logistic regression: {INPUT_NAME} (batch, {model.hparams.n_inputs}) raw float32 rows "
                        f"-> {OUTPUT_NAME} (batch, 1) = p(y=1); class 1 where probability > threshold")  # fmt: skip
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


class Probability(torch.nn.Module):
    """``sigmoid(linear((x - mean) / scale))`` for any batch; not ``model.forward``, which branches on the batch size
    (torch.export cannot keep a branch on a dynamic batch axis)."""

    def __init__(self, model: LogisticRegression) -> None:
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        model = self.model
        return torch.sigmoid(model.linear((features - model.feature_mean) / model.feature_scale))
