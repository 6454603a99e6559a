"""LogisticRegression: loss, forward, parameters, and the full-batch fit against scikit-learn."""

import pytest
import torch

from logreg import LogisticRegression, ThresholdDataModule
from logreg.model.logistic import bce_from_logits


def test_loss_equals_bce_loss_on_probabilities():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1, generator=generator) * 3
    target = (torch.rand(64, 1, generator=generator) > 0.5).float()
    expected = torch.nn.BCELoss()(torch.sigmoid(logits), target)
    assert torch.allclose(bce_from_logits(logits, target), expected, atol=1e-6)


def test_training_totals_equal_bce_loss_and_accuracy_over_the_epoch():
    """train_loss is the row-weighted mean of the batches' losses and train_acc the share of correct decisions,
    checked against torch's BCELoss over all rows at once (batches of unequal size)."""
    generator = torch.Generator().manual_seed(1)
    model = LogisticRegression(n_inputs=3)
    x, y = torch.randn(23, 3, generator=generator), (torch.rand(23, 1, generator=generator) > 0.4).float()
    for rows in (slice(0, 10), slice(10, 13), slice(13, 23)):
        model._training_loss((x[rows], y[rows]))
    totals = model.train_totals.compute()
    with torch.no_grad():
        probs = torch.sigmoid(model.linear(x))
    assert totals["train_loss"].item() == pytest.approx(torch.nn.BCELoss()(probs, y).item(), rel=1e-6)
    assert totals["train_acc"].item() == pytest.approx(((probs > 0.5).float() == y).float().mean().item())


def test_validation_step_outside_a_trainer_updates_metrics_like_a_plain_computation():
    """The evaluation metrics are built when a Trainer call starts (configure_model) or, as here, when a step is
    called by hand (a notebook); the accuracy and loss equal torch's on the same rows."""
    generator = torch.Generator().manual_seed(2)
    model = LogisticRegression(n_inputs=3)
    x, y = torch.randn(40, 3, generator=generator), (torch.rand(40, 1, generator=generator) > 0.5).float()
    model.validation_step((x[:25], y[:25]), 0)
    model.validation_step((x[25:], y[25:]), 1)
    with torch.no_grad():
        probs = torch.sigmoid(model.linear(x))
    values = model.val_totals.compute()
    assert values["val_acc"].item() == pytest.approx(((probs > 0.5).float() == y).float().mean().item())
    assert values["val_loss"].item() == pytest.approx(torch.nn.BCELoss()(probs, y).item(), rel=1e-6)
    assert model.test_totals is None  # nothing built for a stage that never ran


def test_training_step_by_hand_includes_the_l2_penalty():
    model = LogisticRegression(n_inputs=2, l2=0.5, init_weight=1.0, init_bias=0.0)
    x, y = torch.tensor([[1.0, 2.0], [0.5, -1.0], [-2.0, 0.0]]), torch.tensor([[1.0], [0.0], [1.0]])
    expected = torch.nn.BCELoss()(torch.sigmoid(x.sum(1, keepdim=True)), y) + 0.5 / 2 * 2  # l2 / 2 * ||(1, 1)||^2
    assert model.training_step((x, y), 0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_attribute_assignment_registers_like_torch_modules():
    """LogisticRegression stores plain values without nn.Module's checks (a fast path for Lightning's per-hook
    bookkeeping); every assignment must still end as it does on a plain torch module with the same members."""

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 1)
            self.register_buffer("pos_weight", torch.tensor(1.0))

    assignments = [
        ("note", "text"), ("count", 3), ("ratio", 0.5), ("flag", True), ("note", None),
        ("pos_weight", None), ("pos_weight", torch.tensor(2.0)), ("pos_weight", "text"), ("pos_weight", 3),
        ("linear", None), ("linear", torch.nn.Linear(3, 1)), ("linear", 1.5),
        ("extra", torch.nn.Parameter(torch.zeros(1))), ("extra", None), ("extra", 2), ("count", torch.nn.Identity()),
    ]  # fmt: skip

    def outcome(module, name, value):
        try:
            setattr(module, name, value)
        except Exception as err:
            return type(err)
        where = [kind for kind in ("_parameters", "_buffers", "_modules") if name in module.__dict__[kind]]
        stored = getattr(module, name)
        return where, name in module.__dict__, stored if type(stored) in (str, int, float, bool, type(None)) else 0

    ours, reference = LogisticRegression(n_inputs=3), Reference()
    for name, value in assignments:
        assert outcome(ours, name, value) == outcome(reference, name, value), (name, value)


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


@pytest.mark.parametrize("tune_threshold", [None, "youden"])
def test_a_model_validated_before_fitting_still_fits_and_validates(tiny_trainer, tune_threshold):
    """A baseline ``trainer.validate`` (run under inference mode) before ``trainer.fit`` on the same model: the
    metrics it reset (and the threshold's curve) must still take the fit's in-place updates, and the fit's val_loss
    is BCELoss of its weights."""
    model = LogisticRegression(init_weight=1.0, init_bias=0.0, tune_threshold=tune_threshold)
    data = ThresholdDataModule(batch_size=5)
    tiny_trainer().validate(model, data, verbose=False)
    trainer = tiny_trainer(max_epochs=2)
    trainer.fit(model, data)
    x, y = data.features[data.val_idx], data.labels[data.val_idx]
    expected = torch.nn.BCELoss()(model(x).detach(), y)
    assert trainer.callback_metrics["val_loss"].item() == pytest.approx(expected.item(), abs=1e-6)
