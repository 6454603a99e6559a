"""The fitted coefficients as a table: raw-unit and standardised weights (comparable across features), odds ratios,
and for an unpenalised fit Wald inference from the inverse Fisher information of the training rows."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from logreg.data.indexed import one_thread, split_stream
from logreg.model.logistic import chunk_sums, fold_standardization
from logreg.writes import writing

COLUMNS = ("feature", "weight", "std_weight", "odds_ratio", "std_error", "z", "p_value", "ci_low", "ci_high")
INTERCEPT = "(intercept)"
Z_95 = 1.959963984540054  # the standard normal's 0.975 quantile: two-sided 95% intervals
MAX_CONDITION = 1e10  # beyond this condition number of the scaled information, its inverse is not trusted
CSV_FLOAT = "%.10g"
SHORT_FLOAT = "%.4g"
_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_[]<>|#"})


class CoefficientRow(NamedTuple):
    """One row of the table, a value per CSV column; None is an empty cell."""

    feature: str
    weight: float
    std_weight: float | None
    odds_ratio: float
    std_error: float | None = None
    z: float | None = None
    p_value: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class CoefficientTable(NamedTuple):
    """The intercept row, then the features by decreasing ``|std_weight|``; ``reason``: why inference is missing."""

    rows: list[CoefficientRow]
    reason: str | None = None
    separated: bool = False  # (with inference) the model puts every training row on its label's side


def coefficient_table(weight: Tensor, bias: Tensor | float, features: Tensor | np.ndarray, labels: Tensor | np.ndarray,
                      feature_names: Sequence[str], *, mean: Tensor | None = None, scale: Tensor | None = None,
                      rows: Tensor | None = None, inference: bool = False,
                      chunk_rows: int | None = None, cut: float = 0.0,
                      keep: Callable[[Tensor, Tensor], None] | None = None) -> CoefficientTable:  # fmt: skip
    """The table of ``p = sigmoid(weight · (x - mean) / scale + bias)`` on its training ``rows`` (default: all), in one
    float64 pass a chunk at a time (flat memory for a memory map). ``inference``: standard errors, z, p-values and
    intervals, meaningful for an unpenalised maximum-likelihood fit only (Newton's sums, :func:`chunk_sums`, with the
    rows decided right at logit ``cut``; ``keep`` is called with their total and center: the fit's loss and accuracy
    at no pass of their own)."""
    d = len(feature_names)
    if features.ndim != 2 or features.shape[1] != d:
        raise ValueError(f"features of shape {tuple(features.shape)} do not have {d} named columns")
    device = features.device if isinstance(features, Tensor) else torch.device("cpu")
    w, b = _vector(weight, d, "weight", device), float(bias)
    mean = torch.zeros_like(w) if mean is None else _vector(mean, d, "mean", device)
    scale = torch.ones_like(w) if scale is None else _vector(scale, d, "scale", device)
    center = mean if bool((mean != 0).any() or (scale != 1).any()) else None  # else the first chunk's mean
    rows = torch.arange(len(features)) if rows is None else rows.reshape(-1).cpu()  # int32 or int64 indices
    if not len(rows):
        raise ValueError("no training rows to compute the coefficient table on")
    if device.type != "cpu":
        labels = torch.as_tensor(labels).to(device)  # a GPU chunk is masked on the GPU
    folded, offset = fold_standardization(w, torch.tensor([b], dtype=w.dtype, device=device), mean, scale)
    stream = split_stream(features, labels, rows, size=chunk_rows)
    first = stream.chunk(stream.ranges[0], torch.float64, device)
    center = first[0].mean(0) if center is None else center

    def chunk_moments_and_sums(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor | None]:  # (float64 x)
        dx = x - center
        moments = torch.stack([dx.sum(0), dx.square_().sum(0)])
        return moments, chunk_sums("bce", x, y.view(-1), folded, offset, None, center, cut) if inference else None

    with one_thread():  # (B, D) float64 work: see one_thread
        parts = [chunk_moments_and_sums(*first)]
    moments = sums = None
    rest = stream.map(chunk_moments_and_sums, torch.float64, device, inference, stream.ranges[1:])  # (Hessians)
    for chunk_moments, chunk in itertools.chain(parts, rest):
        moments = chunk_moments if moments is None else moments.add_(chunk_moments)
        if chunk is not None:
            sums = chunk if sums is None else sums.add_(chunk)
    shift = moments[0] / len(rows)
    std = (moments[1] / len(rows) - shift * shift).clamp_min(0).sqrt()
    information = sums[d + 2 : d + 2 + (d + 1) ** 2].view(d + 1, d + 1) if inference else None
    if inference and keep is not None:
        keep(sums, center)
    return _table(w, b, mean, scale, std, feature_names, information, _to_raw(center, torch.ones_like(w)),
                  inference and not sums[-1], inference)  # fmt: skip


def information_table(weight: Tensor, bias: Tensor | float, feature_names: Sequence[str], mean: Tensor, scale: Tensor,
                      information: Tensor | None, separated: bool, inference: bool) -> CoefficientTable:  # fmt: skip
    """:func:`coefficient_table` of a standardised model from the (D+1, D+1) Fisher information of ``[weight, bias]``
    that Newton's last pass summed (or none, without ``inference``): no pass of its own (the stds are ``scale``)."""
    n, device = len(feature_names), weight.device
    w, mean, scale = (_vector(v, n, "weight", device) for v in (weight, mean, scale))
    return _table(w, float(bias), mean, scale, scale, feature_names, information, _to_raw(mean, scale),
                  separated and inference, inference)  # fmt: skip


def _table(w: Tensor, b: float, mean: Tensor, scale: Tensor, std: Tensor, names: Sequence[str],
           information: Tensor | None, to_raw: Tensor, separated: bool,
           inference: bool) -> CoefficientTable:  # fmt: skip
    """The rows; ``to_raw`` maps the parameters of ``information`` to ``[intercept, raw weights]``."""
    covariance, reason = _covariance(information, to_raw, separated) if inference else (None, None)
    raw_weight = w / scale
    raw_bias = b - float((raw_weight * mean).sum())
    return CoefficientTable(_rows(raw_bias, raw_weight, raw_weight * std, covariance, names), reason, separated)


def _to_raw(center: Tensor, scale: Tensor) -> Tensor:
    """``A`` with ``[intercept, raw weights] = A [w, b]`` for logits ``(w / scale) . (x - center) + b``."""
    n = len(center)
    to_raw = torch.zeros(n + 1, n + 1, dtype=center.dtype, device=center.device)
    to_raw[0, :n], to_raw[0, n] = -center / scale, 1.0
    to_raw[1:, :n] = torch.diag(1 / scale)
    return to_raw


def write_csv(table: CoefficientTable, path: str | Path) -> None:
    """Write the table to ``path`` atomically, 10 significant digits, empty cells empty."""
    with writing(path, f"{path}: the coefficient table") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([row.feature, *(_cell(value, CSV_FLOAT) for value in row[1:])] for row in table.rows)


def to_markdown(table: CoefficientTable) -> str:
    """The table in Markdown (for TensorBoard's ``add_text``), 4 significant digits, the reason below it."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|:---" + "|---:" * (len(COLUMNS) - 1) + "|"]
    for row in table.rows:
        cells = [row.feature.translate(_MARKDOWN_SPECIAL), *(_cell(value, SHORT_FLOAT) for value in row[1:])]
        lines.append("| " + " | ".join(cells) + " |")
    if table.reason:
        lines += ["", f"No standard errors: {table.reason.translate(_MARKDOWN_SPECIAL)}"]
    return "\n".join(lines)


def summary_lines(table: CoefficientTable, top: int = 5) -> list[str]:
    """Aligned lines for a terminal: the intercept and the ``top`` features by ``|std_weight|`` (p-values when filled),
    a count of those left out, and the reason inference is missing."""
    shown = table.rows[: max(top, 0) + 1]  # the intercept first
    columns = ["feature", "weight", "std_weight", "odds_ratio"]
    if any(row.p_value is not None for row in shown):
        columns.append("p_value")
    grid = [columns] + [[row.feature] + [_cell(getattr(row, c), SHORT_FLOAT) or "-" for c in columns[1:]]
                        for row in shown]  # fmt: skip
    widths = [max(map(len, column)) for column in zip(*grid, strict=True)]
    lines = ["  ".join([line[0].ljust(widths[0]), *map(str.rjust, line[1:], widths[1:])]).rstrip() for line in grid]
    if len(table.rows) > len(shown):
        lines.append(f"({len(table.rows) - len(shown)} more features not shown)")
    if table.reason:
        lines.append(f"no standard errors: {table.reason}")
    return lines


def _vector(values: Tensor, n: int, name: str, device: torch.device) -> Tensor:
    """``values`` as a flat float64 tensor of length ``n`` on ``device``."""
    vector = torch.as_tensor(values).detach().reshape(-1).to(device=device, dtype=torch.float64)
    if len(vector) != n:
        raise ValueError(f"{name} has {len(vector)} values for {n} features")
    return vector


def _covariance(information: Tensor, to_raw: Tensor, separated: bool) -> tuple[Tensor | None, str | None]:
    """The covariance of ``[intercept, raw weights] = to_raw @ parameters`` from the parameters' ``information``,
    inverted after Jacobi scaling (features on scales 0.01 and 100 are fine); or None and why it is not trusted."""
    if separated:
        return None, ("the model separates the training rows perfectly, so the maximum-likelihood estimate does not "
                      "exist (the weights would grow without bound) and standard errors are meaningless")  # fmt: skip
    diagonal = information.diagonal()
    if not (bool(torch.isfinite(information).all()) and bool((diagonal > 0).all())):
        return None, "the Fisher information is singular (a constant feature, or probabilities saturated at 0 or 1)"
    jacobi = diagonal.rsqrt()
    with one_thread():  # (LAPACK on two threads gives other bits: the table is the same on any number)
        values, vectors = torch.linalg.eigh(information * jacobi[:, None] * jacobi[None, :])
    condition = float(values[-1] / values[0]) if values[0] > 0 else math.inf
    if not condition <= MAX_CONDITION:
        return None, (f"the Fisher information is singular or badly conditioned (condition number {condition:.3g}): "
                      "collinear or constant features, or (nearly) separated classes")  # fmt: skip
    with one_thread():
        inverse = jacobi[:, None] * (vectors / values) @ vectors.T * jacobi[None, :]
        return to_raw @ inverse @ to_raw.T, None


def _rows(bias: float, weight: Tensor, std_weight: Tensor, covariance: Tensor | None,
          names: Sequence[str]) -> list[CoefficientRow]:  # fmt: skip
    """The intercept row, then the features by decreasing ``|std_weight|`` (non-finite last), inference filled."""
    weights = torch.cat([weight.new_tensor([bias]), weight])
    errors = covariance.diagonal().clamp_min(0).sqrt().tolist() if covariance is not None else [None] * len(weights)
    rows = []
    for name, w, s, odds, error in zip([INTERCEPT, *names], weights.tolist(), [None, *std_weight.tolist()],
                                       weights.exp().tolist(), errors, strict=True):  # fmt: skip
        if error is None:
            rows.append(CoefficientRow(name, w, s, odds))
            continue
        z = w / error if error > 0 else math.copysign(math.inf, w)
        p_value = math.erfc(abs(z) / math.sqrt(2))  # two-sided, P(|Z| > |z|), accurate far into the tail
        rows.append(CoefficientRow(name, w, s, odds, error, z, p_value, w - Z_95 * error, w + Z_95 * error))
    rows[1:] = sorted(rows[1:], key=lambda row: -abs(row.std_weight) if math.isfinite(row.std_weight) else math.inf)
    return rows


def _cell(value: float | None, form: str) -> str:
    return "" if value is None else form % value
