"""Newton's method (IRLS) for full-batch logistic regression: ``--optimizer logreg.model.newton.Newton``. Each step is
one streamed pass in which the model sums the loss, gradient and Hessian in float64 and hands the Hessian here."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor

from logreg.data.indexed import one_thread

MAX_FEATURES = 4096  # the (D+1)^2 float64 Hessian (134 MB) and its O(D^3) solve per step; beyond: L-BFGS
MAX_HALVINGS = 40  # a step cut below 2^-40 is taken as it is (the objective's rounding, not a real rise)
# A fit takes its first steps on every SAMPLE_STRIDE^k-th chunk of its rows (the largest k leaving SAMPLE_ROWS), to
# convergence there, then on every SAMPLE_STRIDE^(k-1)-th...: from a sample's minimum, 2-3 passes (not 6-8) reach
# the next one's, down to every row's
SAMPLE_ROWS, SAMPLE_STRIDE = 2**16, 8


class Newton(torch.optim.Optimizer):
    """Full-batch Newton steps ``H d = -g`` on a :class:`~logreg.model.logistic.LogisticRegression`, which sets
    :attr:`hessian` and :attr:`converged` in each closure. Where the objective rose it goes back along the last step (it
    cannot diverge); once converged it stays put. Its state is in ``state_dict``: a resumed fit takes the same steps."""

    def __init__(self, params: Iterable[Tensor], max_halvings: int = MAX_HALVINGS) -> None:
        if max_halvings < 0:
            raise ValueError(f"max_halvings must be >= 0, got {max_halvings}")
        super().__init__(params, {"lr": 1.0})  # lr: the fraction of the Newton step taken (halved on an increase)
        self.max_halvings = max_halvings
        self.hessian: Tensor | None = None
        self.converged = False

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor]) -> Tensor:  # type: ignore[override]
        self.hessian, self.converged = None, False
        with torch.enable_grad():
            loss = closure()
        if self.hessian is None:
            raise ValueError("the Newton optimizer needs full-batch LogisticRegression (--data.batch_size 0)")
        params = [p for group in self.param_groups for p in group["params"]]
        state = self.state[params[0]]
        objective = float(loss)
        if self.converged:  # here is the answer (of a sample: go on with a larger one): the weights stay
            state["objective"] = objective
            if state.get("stride", 1) > 1:  # (its objective is another: no step compares with this one's)
                state["stride"], state["objective"] = state["stride"] // SAMPLE_STRIDE, None
            return loss
        last, fraction = state.get("objective"), state.get("fraction", 1.0)
        if last is not None and not objective <= last and fraction > 0.5**self.max_halvings:
            state["fraction"] = backtrack(fraction, last, objective, state["slope"])
        else:
            gradient = torch.cat([p.grad.reshape(-1) for p in params]).double()
            state["point"] = torch.cat([p.reshape(-1) for p in params]).clone()
            state["direction"] = newton_direction(self.hessian, gradient).to(params[0].dtype)
            state["slope"] = float(gradient @ state["direction"].double())
            state["objective"], state["fraction"] = objective, 1.0
        point = state["point"].double() + state["fraction"] * state["direction"].double()
        for p, value in zip(params, point.split([p.numel() for p in params]), strict=True):
            p.copy_(value.view_as(p))
        self.param_groups[0]["lr"] = state["fraction"]
        return loss

    def stride(self, rows: int) -> int:
        """Which chunks of the ``rows`` the next pass reads: every ``stride``-th, a power of :data:`SAMPLE_STRIDE`
        fixed when a fit starts, divided by it each time the fit converges on that sample."""
        state = self.state[self.param_groups[0]["params"][0]]
        if "stride" not in state:  # (a fit resumed from before strides existed: every row)
            state["stride"] = 1
            while rows // (state["stride"] * SAMPLE_STRIDE) >= SAMPLE_ROWS and "objective" not in state:
                state["stride"] *= SAMPLE_STRIDE
        return state["stride"]


def backtrack(fraction: float, start: float, reached: float, slope: float) -> float:
    """The next fraction of a step that raised the objective from ``start`` to ``reached`` (``slope``: its derivative
    at 0): the quadratic's minimum, within 1/10 to 1/2 of it (a wild overshoot takes a few passes, not dozens)."""
    curvature = reached - start - slope * fraction
    guess = -slope * fraction * fraction / (2 * curvature) if curvature > 0 and math.isfinite(curvature) else 0.0
    return min(max(guess, fraction / 10), fraction / 2)


def newton_direction(hessian: Tensor, gradient: Tensor) -> Tensor:
    """``d`` solving ``(H + damping I) d = -g`` by Cholesky after Jacobi scaling; damping 0, or the least power of ten
    that makes a singular ``H`` (collinear features, saturated probabilities) positive definite. On one thread: LAPACK
    on two gave other bits from D = 300 on, and the weights are the same on any number of threads."""
    with one_thread():
        curved = hessian.diagonal() > 0  # (a column constant over the rows has none: no step along it, not a huge one)
        jacobi = torch.where(curved, hessian.diagonal(), 1.0).rsqrt() * curved
        scaled = hessian * jacobi[:, None] * jacobi[None, :]
        scaled.diagonal().masked_fill_(~curved, 1.0)
        identity = torch.eye(len(scaled), dtype=scaled.dtype, device=scaled.device)
        for damping in (0.0, *(10.0**k for k in range(-12, 3))):
            factor, info = torch.linalg.cholesky_ex(scaled + damping * identity)
            if not info:
                return jacobi * torch.cholesky_solve(-(jacobi * gradient)[:, None], factor).view(-1)
        return -gradient * jacobi.square()  # not reached for a finite H: a scaled gradient step


def check_newton(n_features: int, full_batch: bool, loss: str) -> None:
    """What Newton's method needs of the fit, as one-line errors naming the way out."""
    if not full_batch:
        raise ValueError("the Newton optimizer is full batch: set --data.batch_size 0 (or use SGD or Adam)")
    if n_features > MAX_FEATURES:
        raise ValueError(f"the Newton optimizer takes at most {MAX_FEATURES} features (its Hessian is D^2), this data "
                         f"has {n_features}: use --config lbfgs.yaml")  # fmt: skip
    if loss != "bce":
        raise ValueError("the Newton optimizer fits the cross-entropy (--model.loss bce): use --config lbfgs.yaml")
