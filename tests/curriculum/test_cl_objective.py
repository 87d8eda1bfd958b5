"""Properties of the well-posed regularized objective, the Difficulty Measurer and the Training Scheduler."""
import numpy as np
import pytest

from nnunetv2_s3mamba.curriculum.difficulty_measurer import DifficultyMeasurer, normalised_rank, size_difficulty
from nnunetv2_s3mamba.curriculum.lesion_size import SampleTable
from nnunetv2_s3mamba.curriculum.regularized_curriculum import CurriculumConfig, RegularizedCurriculum
from nnunetv2_s3mamba.curriculum.training_scheduler import (TrainingScheduler, regularized_objective,
                                                            solve_sample_weights)

SIZES = np.array([10, 40, 90, 160, 250, 360, 490, 640])


def table(sizes, slices_in_case=None):
    n = len(sizes)
    return SampleTable(tuple(f"s{i}" for i in range(n)), tuple(f"s{i}" for i in range(n)), np.zeros(n, int),
                       np.asarray(sizes), np.ones(n, int) if slices_in_case is None else np.asarray(slices_in_case))


def test_printed_objective_is_degenerate_and_ours_is_not():
    """Paper eq. 6-7 as printed: J(v) grows in every v_i (l_i >= 0), so v = 0 minimises it; ours has interior minima."""
    losses, lam = np.array([0.2, 0.5, 0.9]), 0.5
    printed = lambda v: np.sum(v * losses) + lam * np.sum(1 / np.array([1, 2, 3])) + (1 - lam) * np.sum(v ** 2)
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 11)] * 3), -1).reshape(-1, 3)
    assert np.allclose(grid[np.argmin([printed(v) for v in grid])], 0)
    v = solve_sample_weights(np.array([0.0, 0.5, 1.0]), lam=1.0, v_min=0.1, balance=1.0)
    assert v[0] > v[1] > v[2] and v.min() >= 0.1


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.8, 1.0])
@pytest.mark.parametrize("balance", [1.0, 2.5])
def test_closed_form_minimises_objective_on_the_box(lam, balance):
    rng = np.random.default_rng(0)
    d, v_min = rng.uniform(size=6), 0.2
    v = solve_sample_weights(d, lam, v_min, balance)
    best = regularized_objective(v, d, lam, balance)
    candidates = rng.uniform(v_min, 1.0, size=(4000, 6))
    assert all(regularized_objective(c, d, lam, balance) >= best - 1e-12 for c in candidates)
    # and the KKT view: each coordinate is the clipped stationary point
    for i in range(6):
        for delta in (-1e-3, 1e-3):
            w = v.copy()
            w[i] = np.clip(w[i] + delta, v_min, 1)
            assert regularized_objective(w, d, lam, balance) >= best - 1e-12


def test_early_weights_increase_with_lesion_size():
    curriculum = RegularizedCurriculum(table(SIZES))
    v = curriculum.weights()
    assert np.all(np.diff(v) >= 0) and v[-1] > v[0]
    assert v[0] == pytest.approx(0.2) and v[-1] == pytest.approx(1.0)


def test_focus_shifts_to_small_lesions_as_lambda_falls():
    curriculum = RegularizedCurriculum(table(SIZES), CurriculumConfig(ramp_fraction=0.5))
    small, large = 0, len(SIZES) - 1
    history = []
    for epoch in range(10):
        history.append(curriculum.weights())
        curriculum.end_epoch(epoch, num_epochs=10, gather=lambda x: [x])
    assert history[0][small] < history[0][large]
    assert curriculum.scheduler.lam == pytest.approx(0.0)
    assert history[-1][small] > history[-1][large]
    p_small = [curriculum.sampling_probabilities_for(v)[small] for v in history]
    assert p_small[-1] > 3 * p_small[0]


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_weights_bounded_and_balance_term_shrinks_spread(lam):
    d = np.linspace(0, 1, 50)
    spreads = []
    for balance in (1.0, 2.0, 4.0):
        v = solve_sample_weights(d, lam, 0.15, balance)
        assert v.min() >= 0.15 and v.max() <= 1.0
        spreads.append(v.max() - v.min())
    assert spreads[0] >= spreads[1] >= spreads[2]
    if lam != 0.5:
        assert spreads[0] > spreads[2]


def test_invalid_hyperparameters_rejected():
    with pytest.raises(ValueError, match="v_min"):
        solve_sample_weights(np.zeros(3), 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="balance"):
        solve_sample_weights(np.zeros(3), 1.0, 0.2, 0.0)
    with pytest.raises(ValueError, match="ramp_fraction"):
        TrainingScheduler(ramp_fraction=0)


def test_weights_depend_on_observed_losses_not_only_size():
    """Two samples of equal size: the one with the higher loss becomes harder (lower weight early)."""
    measurer = DifficultyMeasurer(np.array([100, 100, 100, 100]))
    assert np.allclose(measurer.difficulty(), 0.5)
    for _ in range(3):
        measurer.observe([0, 1, 2, 3], [0.1, 0.9, 0.5, 0.5])
    d = measurer.difficulty()
    assert d[1] > d[2] == d[3] > d[0]
    v = solve_sample_weights(d, 1.0, 0.2, 1.0)
    assert v[0] > v[1]


def test_loss_evidence_overrides_size_prior_with_confidence():
    sizes = np.array([10, 1000])
    measurer = DifficultyMeasurer(sizes, confidence_count=2.0)
    assert measurer.difficulty()[0] > measurer.difficulty()[1]
    measurer.observe([0, 1], [0.0, 5.0])  # the small lesion turns out easy
    once = measurer.difficulty()
    for _ in range(20):
        measurer.observe([0, 1], [0.0, 5.0])
    many = measurer.difficulty()
    assert many[0] < many[1]
    assert abs(many[1] - many[0]) > abs(once[1] - once[0])


def test_measurer_update_is_order_independent_and_averages_duplicates():
    a, b = DifficultyMeasurer(SIZES), DifficultyMeasurer(SIZES)
    a.observe([0, 3, 0, 5], [1.0, 2.0, 3.0, 0.5])
    b.observe([5, 0, 3, 0], [0.5, 3.0, 2.0, 1.0])
    assert np.array_equal(a.loss_ema, b.loss_ema) and a.loss_ema[0] == 2.0
    assert a.seen[0] == 2


def test_scheduler_lambda_monotone_and_stability_accelerates():
    steady, noisy = TrainingScheduler(ramp_fraction=1.0), TrainingScheduler(ramp_fraction=1.0)
    steady_l, noisy_l = [], []
    for epoch in range(10):
        steady.step(epoch, 20, 0.5)
        noisy.step(epoch, 20, 0.5 + (0.3 if epoch % 2 else 0.0))
        steady_l.append(steady.lam)
        noisy_l.append(noisy.lam)
    assert all(np.diff(steady_l) <= 0) and all(np.diff(noisy_l) <= 0)
    assert noisy_l[-1] == pytest.approx(1 - 10 / 20)  # time budget only
    assert steady_l[-1] < noisy_l[-1]


def test_normalised_rank_ties_and_single():
    assert np.allclose(normalised_rank(np.array([3.0, 1.0, 2.0])), [1.0, 0.0, 0.5])
    assert np.allclose(normalised_rank(np.array([2.0, 2.0, 2.0])), 0.5)
    assert np.allclose(normalised_rank(np.array([7.0])), 0.5)


@pytest.mark.parametrize("sizes", [[0, 0, 0, 0], [50, 50, 50], [123]])
def test_degenerate_sizes_give_uniform_weights_and_no_crash(sizes):
    curriculum = RegularizedCurriculum(table(sizes))
    for epoch in range(3):
        v = curriculum.weights()
        assert np.all(np.isfinite(v)) and np.allclose(v, v[0]) and v[0] >= 0.2
        p = curriculum.sampling_probabilities()
        assert np.isclose(p.sum(), 1) and np.allclose(p, 1 / len(sizes))
        curriculum.end_epoch(epoch, 3, gather=lambda x: [x])
    assert size_difficulty(np.array(sizes)).tolist() == [0.5] * len(sizes)


def test_nan_losses_leave_weights_unchanged():
    curriculum = RegularizedCurriculum(table(SIZES))
    curriculum.record_step(["s0", "s1"], np.array([0.3, 0.4]))
    curriculum.end_epoch(0, 10, gather=lambda x: [x])
    before_state = curriculum.measurer.state_dict()
    curriculum.record_step(["s2", "s3"], np.array([np.nan, np.inf]))
    curriculum.record_step(["s4", "s5"], None)  # a skipped step
    entry = curriculum.end_epoch(1, 10, gather=lambda x: [x])
    assert curriculum.measurer.state_dict() == before_state
    assert entry["losses_used"] == 0 and entry["skipped_steps"] == 1 and entry["samples_drawn"] == 4
    assert np.isnan(entry["mean_sample_loss"])


def test_unknown_batch_key_is_a_clear_error():
    curriculum = RegularizedCurriculum(table(SIZES))
    with pytest.raises(KeyError, match="not a curriculum sample"):
        curriculum.record_step(["nope"], np.array([1.0]))


def test_prior_keeps_nnunet_case_balance_for_volumes():
    """Uniform weights must reproduce nnU-Net's sampling: cases equally likely, whatever their slice count."""
    t = SampleTable(("a@slice0", "a@slice1", "a@slice2", "b"), ("a", "a", "a", "b"), np.array([0, 1, 2, 0]),
                    np.array([5, 5, 5, 5]), np.array([3, 3, 3, 1]))
    p = RegularizedCurriculum(t).sampling_probabilities()
    assert p[:3].sum() == pytest.approx(0.5) and p[3] == pytest.approx(0.5)


def test_size_strata_rank_only_samples_with_a_lesion_and_ties_share_a_stratum():
    """data.strata over the non-empty samples: 3rd of 10 is the small threshold, 6th the medium one."""
    t = table([0, 0, 5, 5, 5, 7, 8, 9, 9, 10, 12, 13])
    assert t.size_strata.tolist() == ["none"] * 2 + ["small"] * 3 + ["medium"] * 4 + ["large"] * 3
    curriculum = RegularizedCurriculum(t)
    assert curriculum.small.tolist() == [s == "small" for s in t.size_strata]
    entry = curriculum.end_epoch(0, 10, gather=lambda x: [x])
    assert set(entry["stratum_mean_weight"]) == {"small", "medium", "large"}
