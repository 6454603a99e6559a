"""LogisticRegression: loss, forward, parameters, and the full-batch fit against scikit-learn."""

import numpy as np
import pytest
import torch

from conftest import run_dirs
from logreg import LogisticRegression, ThresholdDataModule
from logreg.model import bce_from_logits


def test_loss_equals_bce_loss_on_probabilities():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1, generator=generator) * 3
    target = (torch.rand(64, 1, generator=generator) > 0.5).float()
    expected = torch.nn.BCELoss()(torch.sigmoid(logits), target)
    assert torch.allclose(bce_from_logits(logits, target), expected, atol=1e-6)


def test_loss_is_finite_where_bce_loss_saturates():
    logits = torch.tensor([[200.0], [-200.0]])
    target = torch.tensor([[0.0], [1.0]])
    assert torch.nn.BCELoss()(torch.sigmoid(logits), target).item() == 100.0  # clamped log
    assert torch.allclose(bce_from_logits(logits, target), torch.tensor(200.0))


def test_forward_returns_probabilities_of_a_linear_sigmoid():
    model = LogisticRegression(n_inputs=3, init_weight=0.5, init_bias=-1.0)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.allclose(model(x), torch.sigmoid(torch.tensor([[0.5 * 6 - 1.0]])))


def test_fixed_init_and_coefficients_in_raw_units():
    model = LogisticRegression(n_inputs=1, init_weight=-5.0, init_bias=-10.0)
    weight, bias = model.coefficients()
    assert weight.tolist() == [-5.0] and bias == -10.0
    assert model.decision_boundary() == -2.0
    model.set_standardization(torch.tensor([1.0]), torch.tensor([2.0]))
    weight, bias = model.coefficients()  # sigmoid(-5 (x - 1) / 2 - 10) = sigmoid(-2.5 x - 7.5)
    assert weight.tolist() == [-2.5] and bias == -7.5


@pytest.mark.parametrize(("kwargs", "message"), [({"n_inputs": 0}, "n_inputs"), ({"lr": 0.0}, "lr must be > 0")])
def test_invalid_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LogisticRegression(**kwargs)


def test_fit_logs_the_documented_metric_names(tiny_trainer):
    trainer = tiny_trainer(max_epochs=2)
    trainer.fit(LogisticRegression(), ThresholdDataModule())
    expected = {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "val_auroc",
        "val_f1",
        "weight",
        "bias",
    }
    assert expected <= set(trainer.callback_metrics)


def test_predict_returns_probabilities(tiny_trainer):
    trainer = tiny_trainer()
    model = LogisticRegression()
    batches = trainer.predict(model, ThresholdDataModule())
    probs = torch.cat(batches)
    assert probs.shape == (40, 1) and bool(((probs > 0) & (probs < 1)).all())


def test_epoch_loss_is_the_batch_size_weighted_mean(tiny_trainer):
    """The 8 validation rows in batches of 5 and 3: the logged loss is the mean over rows, not over batches."""
    model = LogisticRegression(init_weight=1.0, init_bias=0.0)
    data = ThresholdDataModule(batch_size=5)
    data.setup("validate")
    assert [len(x) for x, _ in data.val_dataloader()] == [5, 3]
    trainer = tiny_trainer(limit_train_batches=0)
    [result] = trainer.validate(model, data, verbose=False)
    x, y = data.features[data.val_idx], data.labels[data.val_idx]
    expected = torch.nn.functional.binary_cross_entropy_with_logits(x * 1.0, y)
    assert abs(result["val_loss"] - expected.item()) < 1e-6


def test_lbfgs_full_batch_through_the_cli_matches_scikit_learn(tmp_path, run_cli):
    """``logreg fit --optimizer LBFGS`` with one batch of all training rows finds the unpenalised maximum-likelihood
    fit that scikit-learn finds on the same rows, to 1e-4 in every coefficient.

    The data is non-separable (15 % of the labels flipped, so the optimum is finite and unique) with features on
    very different scales; the model standardises them with the training split's statistics. The comparison is
    on that standardised scale, the one L-BFGS optimises: scikit-learn is fitted on ``(x - feature_mean) /
    feature_scale`` with the checkpoint's own mean and scale, and compared with ``linear.weight``/``linear.bias``.
    The same fit in raw-feature units (``model.coefficients()``, which folds the standardisation back in) is
    compared with scikit-learn's converted coefficients, to 1e-4 relative to each coefficient's size.

    One L-BFGS step per epoch (up to ``max_iter`` iterations each); in float32 a step can stop early on an
    unchanged loss, and later epochs continue from the optimizer's state (2 epochs end about 1e-5 away, 5 about
    2e-6 away).
    """
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    from logreg import FileDataModule

    rng = np.random.default_rng(0)
    x = (rng.standard_normal((500, 3)) * [1.0, 40.0, 0.3] + [2.0, -30.0, 0.5]).astype(np.float32)
    standard = (x - x.mean(0)) / x.std(0)
    y = (standard @ [1.5, -1.0, 0.5] > 0.2).astype(np.int64)
    flip = rng.random(len(y)) < 0.15
    y[flip] = 1 - y[flip]
    np.savez(tmp_path / "noisy.npz", x=x, y=y)
    data = FileDataModule(tmp_path / "noisy.npz")
    data.setup("fit")
    n_train = len(data.train_idx)

    run_cli("fit", "--data", "FileDataModule", "--data.path", "noisy.npz", "--data.batch_size", str(n_train),
            "--optimizer", "LBFGS", "--optimizer.lr", "1", "--optimizer.line_search_fn", "strong_wolfe",
            "--optimizer.max_iter", "500", "--optimizer.history_size", "20", "--optimizer.tolerance_grad", "1e-9",
            "--optimizer.tolerance_change", "1e-12", "--trainer.max_epochs", "5")  # fmt: skip
    model = LogisticRegression.load_from_checkpoint(run_dirs(tmp_path)[0] / "checkpoints" / "last.ckpt")
    mean, scale = model.feature_mean.double().numpy(), model.feature_scale.double().numpy()
    assert np.allclose(mean, x[data.train_idx.numpy()].mean(0), rtol=1e-5, atol=1e-5)  # the training rows' stats

    train_x = (x[data.train_idx.numpy()].astype(np.float64) - mean) / scale
    train_y = data.labels[data.train_idx].view(-1).numpy()
    reference = SklearnLogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(train_x, train_y)
    assert reference.n_iter_[0] < 10_000  # converged
    assert reference.score(train_x, train_y) < 0.95  # not separable: the unpenalised optimum is finite
    weight = model.linear.weight.detach().double().view(-1).numpy()
    bias = model.linear.bias.detach().double().item()
    assert np.abs(weight - reference.coef_[0]).max() < 1e-4, (weight, reference.coef_[0])
    assert abs(bias - reference.intercept_[0]) < 1e-4, (bias, reference.intercept_[0])

    raw_weight, raw_bias = model.coefficients()
    expected_weight = reference.coef_[0] / scale
    expected_bias = reference.intercept_[0] - float((expected_weight * mean).sum())
    assert np.allclose(raw_weight.double().numpy(), expected_weight, rtol=1e-4, atol=0)
    assert raw_bias == pytest.approx(expected_bias, rel=1e-4)
