import pytest

from m1.evaluation.stats import paired_bootstrap


def test_paired_bootstrap_interval():
    a = [0.0] * 50 + [1.0] * 50
    b = [1.0] * 80 + [0.0] * 20
    mean, lo, hi = paired_bootstrap(a, b, n_resamples=2000, seed=1)
    assert mean == pytest.approx(0.3) and lo < 0.3 < hi and lo > 0.1 and hi < 0.5


def test_identical_systems_have_a_zero_interval_and_bad_input_is_refused():
    s = [1.0, 0.0, 1.0, 1.0]
    assert paired_bootstrap(s, s) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap([1.0], [1.0, 0.0])
