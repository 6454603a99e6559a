"""The Newton optimizer's own limits (its parity with scikit-learn and statsmodels, resume and DDP are rows of the
L-BFGS tests in test_estimator.py and test_scale.py)."""

import torch

import logreg.model.newton
from conftest import call_main
from logreg.model.newton import newton_direction


def test_wide_data_is_refused_in_one_line_naming_lbfgs(tmp_path, monkeypatch):
    """Above MAX_FEATURES (4096; lowered here to 2 so that 3 features exceed it) the D x D Hessian is refused."""
    monkeypatch.setattr(logreg.model.newton, "MAX_FEATURES", 2)
    fit = call_main("fit", "--optimizer", "logreg.model.newton.Newton", "--data.batch_size", "0",
                    "--data.n_features", "3", cwd=tmp_path, check=False)  # fmt: skip
    assert fit.returncode == 2
    assert fit.stderr.strip() == ("logreg: error: the Newton optimizer takes at most 2 features (its Hessian is D^2), "
                                  "this data has 3: use --config lbfgs.yaml")  # fmt: skip


def test_a_singular_hessian_is_damped_into_a_descent_direction():
    """A constant feature leaves a zero row and column in the Hessian: Cholesky fails, damping makes it definite,
    and the direction still solves the definite part (numpy's solve of it as the reference)."""
    hessian = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    gradient = torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64)
    direction = newton_direction(hessian, gradient)
    expected = torch.linalg.solve(hessian[:2, :2], -gradient[:2])
    torch.testing.assert_close(direction[:2], expected, rtol=1e-6, atol=1e-9)
    assert direction[2] == 0 and float(gradient @ direction) < 0


def test_the_newton_step_is_the_same_bits_on_any_number_of_threads():
    """The step's Cholesky solve runs on one thread: on two, LAPACK gave other bits from D = 300 on (the chunks' sums
    are added in order already), so a fit's weights were not the same on 1 and 2 threads."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(1200, 301, dtype=torch.float64, generator=generator)
    hessian, gradient = rows.T @ rows / 1200, torch.randn(301, dtype=torch.float64, generator=generator)
    threads = torch.get_num_threads()
    try:
        steps = []
        for count in (1, 2):
            torch.set_num_threads(count)
            steps.append(newton_direction(hessian, gradient))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(*steps)
