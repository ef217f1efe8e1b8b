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


def test_a_stratified_sample_weighs_groups_as_the_whole_set_and_is_seeded():
    from collections import Counter

    from m1.evaluation.stats import stratified_sample

    items = [("lv", i) for i in range(140)] + [("sp", i) for i in range(55)] + [("gr", i) for i in range(140)]
    key = lambda t: t[0]  # noqa: E731
    got = stratified_sample(items, 67, key, seed=0)
    assert len(got) == 67 and Counter(map(key, got)) == {"lv": 28, "gr": 28, "sp": 11}  # 67 x 140/335 = 28
    assert got == [it for it in items if it in got]  # the set's order is kept
    assert got == stratified_sample(items, 67, key, seed=0) and got != stratified_sample(items, 67, key, seed=1)
    # every group appears when n allows, even one too small for its proportional share
    tiny = [("big", i) for i in range(98)] + [("rare", 0), ("rare", 1)]
    assert Counter(map(key, stratified_sample(tiny, 10, key))) == {"big": 9, "rare": 1}
    assert stratified_sample(items, 1000, key) == items
    with pytest.raises(ValueError, match="n >= 1"):
        stratified_sample(items, 0, key)
