"""shadow.stats (and the oracles in tests/support) against STATISTICS.md's oracles (section 10 and the sections), and second opinions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.proportion import proportion_confint

from shadow.stats import common, fixed, monitoring, sequential
from tests.support import oracles

TOL = 1e-6


def approx(expected: object, tol: float = TOL) -> object:
    return pytest.approx(expected, abs=tol)


def pair(interval: common.Interval | tuple[np.ndarray, np.ndarray]) -> list[float]:
    return [float(interval[0]), float(interval[1])]


# --- §1 one proportion (oracles 1-5) ---


def test_wilson_oracles_1_and_4() -> None:
    assert pair(fixed.wilson(45, 50)) == approx([0.786398, 0.956524])
    assert pair(fixed.wilson(0, 20)) == approx([0.0, 0.161125])
    assert pair(fixed.wilson(20, 20)) == approx([0.838875, 1.0])
    assert pair(fixed.wilson(900, 1000)) == approx([0.879848, 0.917091])


def test_clopper_pearson_and_agresti_coull_oracles_2_and_3() -> None:
    assert pair(oracles.clopper_pearson(45, 50)) == approx([0.781865, 0.966725])
    assert pair(oracles.clopper_pearson(0, 20)) == approx([0.0, 0.168433])
    assert pair(oracles.clopper_pearson(20, 20)) == approx([0.831567, 1.0])
    assert pair(oracles.agresti_coull(45, 50)) == approx([0.782062, 0.960860])


def test_one_sided_lower_bounds_oracle_5() -> None:
    assert float(oracles.wilson_lower_one_sided(45, 50)) == approx(0.808462)
    assert float(oracles.clopper_pearson_lower_one_sided(45, 50)) == approx(0.801167)


@pytest.mark.parametrize("method", ["wilson", "beta", "agresti_coull"])
def test_vectorised_intervals_equal_statsmodels_on_random_counts(method: str) -> None:
    rng = np.random.default_rng(7)
    n = rng.integers(1, 2000, 500)
    k = rng.binomial(n, rng.uniform(0, 1, 500))
    k[:5], n[:5] = [0, 1, 3, 7, 9], [1, 1, 3, 7, 10]  # the edges k = 0 and k = n
    ours = {
        "wilson": fixed.wilson,
        "beta": oracles.clopper_pearson,
        "agresti_coull": oracles.agresti_coull,
    }
    low, high = ours[method](k, n, 0.1)
    sm_low, sm_high = proportion_confint(k, n, alpha=0.1, method=method)
    np.testing.assert_allclose(low, sm_low, atol=1e-10)
    np.testing.assert_allclose(high, sm_high, atol=1e-10)


def test_no_cases_is_no_evidence_not_zero() -> None:
    k, n = np.array([0, 3]), np.array([0, 4])
    for interval in (
        fixed.wilson(k, n),
        oracles.clopper_pearson(k, n),
        fixed.beta_binomial_cs(k, n),
    ):
        assert np.isnan(interval.low[0]) and np.isnan(interval.high[0])
        assert not np.isnan(interval.low[1])
    assert np.isnan(fixed.newcombe(0, 0, 0, 0).low)
    assert np.isnan(oracles.tango(0, 0, 0, 0).high)
    assert np.isnan(sequential.beta_mixture_evalue(0, 0, 0.85))
    assert np.isnan(fixed.cohen_kappa([[0, 0], [0, 0]]).estimate)
    assert np.isnan(fixed.gwet_ac1([[0, 0], [0, 0]]).estimate)
    assert np.isnan(oracles.pabak([[0, 0], [0, 0]]))
    assert np.isnan(fixed.mcnemar(0, 0).exact)
    assert np.isnan(fixed.expected_cost(0, 0, 0, 0, 50, 1))
    assert np.isnan(oracles.net_benefit(0, 0, 0, 0.02))
    assert np.isnan(oracles.brier([], []))
    assert np.isnan(oracles.expected_calibration_error([], []))
    assert np.isnan(oracles.spiegelhalter([], []).z)
    assert np.isnan(oracles.calibration_in_the_large([], []))
    assert np.isnan(oracles.psi([], [0.1]))
    assert np.isnan(oracles.audit_weighted_rate([10, 5], [10, 0], [9, 0]).estimate)


# --- §2 paired comparison (oracles 6-13) ---


def test_mcnemar_oracles_6_and_7() -> None:
    r = fixed.mcnemar([15, 1, 6], [5, 7, 16])
    np.testing.assert_allclose(r.exact, [0.041389, 0.070313, 0.052479], atol=TOL)
    np.testing.assert_allclose(r.mid_p, [0.026604, 0.039063, 0.034690], atol=TOL)
    np.testing.assert_allclose(r.asymptotic, [0.025347, 0.033895, 0.033006], atol=TOL)
    np.testing.assert_allclose(r.asymptotic_cc, [0.044171, 0.077100, 0.055009], atol=TOL)
    assert float(r.exact_one_sided[0]) == approx(0.020695)
    assert float(r.mid_p_one_sided[0]) == approx(0.013302)


def test_mcnemar_equals_statsmodels_on_random_tables() -> None:
    rng = np.random.default_rng(3)
    b, c = rng.integers(0, 60, 200), rng.integers(0, 60, 200)
    b[0], c[0] = 4, 4  # b = c: exact 1, mid-p 1
    ours = fixed.mcnemar(b, c)
    for i in range(b.size):
        if b[i] + c[i] == 0:
            continue
        table = [[10, b[i]], [c[i], 10]]
        assert ours.exact[i] == pytest.approx(sm_mcnemar(table, exact=True).pvalue, abs=1e-12)
        plain = sm_mcnemar(table, exact=False, correction=False).pvalue
        assert ours.asymptotic[i] == pytest.approx(plain, abs=1e-12)
    assert float(ours.mid_p[0]) == 1.0


TABLES = {
    "60-15-5-20": (60, 15, 5, 20),
    "59-6-16-80": (59, 6, 16, 80),
    "1-1-7-12": (1, 1, 7, 12),
    "70-6-9-15": (70, 6, 9, 15),
}


def test_newcombe_oracles_8_and_9_and_section_table() -> None:
    a, b, c, d = np.array(list(TABLES.values())).T
    low, high = fixed.newcombe(a, b, c, d)
    np.testing.assert_allclose(low, [0.011963, -0.118621, -0.506920, -0.109572], atol=TOL)
    np.testing.assert_allclose(high, [0.186557, -0.004625, -0.025559, 0.049166], atol=TOL)


def test_tango_oracles_10_and_11_and_section_table() -> None:
    a, b, c, d = np.array(list(TABLES.values())).T
    low, high = oracles.tango(a, b, c, d)
    np.testing.assert_allclose(low, [0.013447, -0.124023, -0.517232, -0.113031], atol=TOL)
    np.testing.assert_allclose(high, [0.192397, -0.005433, -0.026003, 0.050200], atol=TOL)


def test_tango_at_zero_is_mcnemars_z_so_interval_and_test_agree() -> None:
    b, c = np.array([15, 1, 6, 30]), np.array([5, 7, 16, 29])
    np.testing.assert_allclose(oracles.tango_statistic(b, c, 100, 0.0), (b - c) / np.sqrt(b + c))
    low, high = oracles.tango(100 - b - c, b, c, np.zeros(4))
    significant = fixed.mcnemar(b, c).asymptotic < 0.05
    assert list((low > 0) | (high < 0)) == list(significant)


def test_wald_oracle_12() -> None:
    assert pair(oracles.wald_paired(60, 15, 5, 20)) == approx([0.014567, 0.185433])
    assert pair(oracles.wald_paired(60, 15, 5, 20, correction=True)) == approx([0.004567, 0.195433])


def test_noninferiority_oracle_13_and_section_table() -> None:
    r = oracles.noninferiority_score_test(6, 9, 100, [0.10, 0.05])
    np.testing.assert_allclose(r.z, [1.682736, 0.511279], atol=TOL)
    np.testing.assert_allclose(r.p_value, [0.046213, 0.304578], atol=TOL)
    r = oracles.noninferiority_score_test(15, 5, 100, [0.05, 0.10])
    np.testing.assert_allclose(r.z, [3.173037, 4.004866], atol=TOL)
    np.testing.assert_allclose(r.p_value, [0.000754, 3.10e-05], atol=TOL)
    # 95 % one-sided lower bounds: Newcombe / Tango
    lows = oracles.newcombe_lower_one_sided([60, 70], [15, 6], [5, 9], [20, 15])
    np.testing.assert_allclose(lows, [0.026125, -0.096493], atol=TOL)
    np.testing.assert_allclose(
        oracles.tango([60, 70], [15, 6], [5, 9], [20, 15], 0.10).low,
        [0.028186, -0.098258],
        atol=TOL,
    )


# --- §3 agreement (oracles 14-16) ---

AGREEMENT_TABLES = np.array([[[40, 9], [6, 45]], [[118, 5], [2, 0]], [[85, 4], [3, 8]]])


def test_cohen_kappa_oracles_14_and_16() -> None:
    k = fixed.cohen_kappa(AGREEMENT_TABLES)
    np.testing.assert_allclose(k.estimate, [0.699519, -0.023392, 0.656189], atol=TOL)
    np.testing.assert_allclose(k.se, [0.071394, 0.012287, 0.120447], atol=TOL)
    np.testing.assert_allclose(k.low, [0.559590, -0.047473, 0.420116], atol=TOL)
    np.testing.assert_allclose(k.high, [0.839448, 0.000690, 0.892261], atol=TOL)


def test_gwet_ac1_oracles_15_and_16() -> None:
    ac1 = fixed.gwet_ac1(AGREEMENT_TABLES)
    np.testing.assert_allclose(ac1.estimate, [0.700748, 0.940776, 0.912110], atol=TOL)
    np.testing.assert_allclose(ac1.se, [0.071352, 0.022965, 0.034141], atol=TOL)
    np.testing.assert_allclose(ac1.low, [0.560901, 0.895767, 0.845194], atol=TOL)
    np.testing.assert_allclose(ac1.high, [0.840595, 0.985786, 0.979026], atol=TOL)


def test_pabak_and_specific_agreement_expose_the_paradox() -> None:
    np.testing.assert_allclose(oracles.pabak(AGREEMENT_TABLES), [0.70, 0.888, 0.86], atol=TOL)
    spec = oracles.specific_agreement(118, 5, 2, 0)
    assert float(spec.positive) == approx(0.9712, 1e-4)
    assert float(spec.negative) == 0.0


def test_vectorised_kappa_equals_statsmodels_per_table() -> None:
    rng = np.random.default_rng(11)
    tables = rng.integers(0, 40, (60, 3, 3)) + np.eye(3, dtype=np.int64) * 30
    ours = fixed.cohen_kappa(tables)
    for i, table in enumerate(tables):
        ref = sm_kappa(table)
        assert ours.estimate[i] == pytest.approx(ref.kappa, abs=1e-12)
        assert ours.se[i] == pytest.approx(ref.std_kappa, abs=1e-12)
        assert ours.low[i] == pytest.approx(ref.kappa_low, abs=1e-12)
        assert ours.high[i] == pytest.approx(ref.kappa_upp, abs=1e-12)


def test_kappa_where_both_always_say_the_same_label_is_undefined() -> None:
    assert np.isnan(fixed.cohen_kappa([[12, 0], [0, 0]]).estimate)


# --- §4 anytime-valid (oracles 17-25, 26) ---

ACCURACY_STREAM = (np.arange(1000) % 10 != 9).astype(float)  # wrong iff i mod 10 = 9
PAIRED_STREAM = np.tile([1, 1, 1, -1] + [0] * 16, 50)  # b = 0.15n, c = 0.05n


def test_beta_binomial_cs_oracles_17_and_18() -> None:
    low, high = fixed.beta_binomial_cs([90, 900], [100, 1000])
    np.testing.assert_allclose(low, [0.771729, 0.861633], atol=TOL)
    np.testing.assert_allclose(high, [0.971158, 0.931220], atol=TOL)


def test_beta_binomial_cs_reaches_the_edge_when_every_case_agrees() -> None:
    low, high = fixed.beta_binomial_cs([0, 20], [20, 20])
    assert float(low[0]) == 0.0 and float(high[1]) == 1.0
    assert 0 < float(high[0]) < 0.5 < float(low[1]) < 1


def test_hoeffding_and_stitched_halfwidths_oracles_19_and_20() -> None:
    np.testing.assert_allclose(
        oracles.hoeffding_mixture_halfwidth([100, 1000]), [0.168194, 0.048406], atol=TOL
    )
    np.testing.assert_allclose(
        oracles.stitched_halfwidth([100, 1000]), [0.199531, 0.065131], atol=TOL
    )
    # r = 1 for the paired scale: (-0.236389, 0.436389) at n = 100 around Δ = 0.1
    assert float(oracles.hoeffding_mixture_halfwidth(100, half_range=1.0)) == approx(0.336389)


def test_prpl_eb_accuracy_stream_oracle_21() -> None:
    cs = sequential.prpl_eb(ACCURACY_STREAM)
    assert [cs.low[99], cs.high[99]] == approx([0.789012, 1.0])
    assert [cs.low[999], cs.high[999]] == approx([0.865649, 0.934753])
    assert [cs.lower[99], cs.lower[999]] == approx([0.802637, 0.868604])


def test_prpl_eb_paired_stream_oracle_22() -> None:
    cs = sequential.prpl_eb_paired(PAIRED_STREAM)
    assert [cs.low[99], cs.high[99]] == approx([-0.087485, 0.287485])
    assert [cs.low[999], cs.high[999]] == approx([0.052611, 0.151488])
    assert [cs.lower[99], cs.lower[999]] == approx([-0.059759, 0.057295])


def test_dirichlet_cs_oracle_23() -> None:
    low, high = oracles.dirichlet_cs([15, 150], [5, 50], [100, 1000])
    np.testing.assert_allclose(low, [-0.079062, 0.039106], atol=TOL)
    np.testing.assert_allclose(high, [0.288784, 0.163485], atol=TOL)


def test_beta_mixture_evalue_oracle_24() -> None:
    e = sequential.beta_mixture_evalue([90, 900, 368], [100, 1000, 400], 0.85)
    np.testing.assert_allclose(e, [1.35012, 8553.63, 1849.99], rtol=1e-5)


def test_beta_mixture_evalue_is_the_mixture_integral() -> None:
    # E_n = ∫_{p0}^1 (q/p0)^S ((1-q)/(1-p0))^(n-S) dq / (1 - p0), checked by quadrature.
    s, n, p0 = 37, 50, 0.6
    q = np.linspace(p0, 1, 200_001)
    integrand = (q / p0) ** s * ((1 - q) / (1 - p0)) ** (n - s)
    numeric = np.trapezoid(integrand, q) / (1 - p0)
    assert float(sequential.beta_mixture_evalue(s, n, p0)) == pytest.approx(numeric, rel=1e-8)


def test_mirror_evalue_for_demotion_is_the_upper_one_reflected() -> None:
    # H0: p >= 0.15 with 10 right of 100 mirrors H0: p <= 0.85 with 90 right of 100.
    assert float(sequential.beta_mixture_evalue_below(10, 100, 0.15)) == approx(1.35012, 1e-5)
    low = sequential.beta_mixture_evalue_below([60, 80], [100, 100], 0.85)
    assert low[0] > 1e5 > 1 > low[1]


def test_always_valid_p_is_one_over_the_running_max() -> None:
    p = sequential.always_valid_p([0.5, 4.0, 2.0, 10.0, 1.0, np.nan])
    np.testing.assert_allclose(p, [1.0, 0.25, 0.25, 0.1, 0.1, 0.1])
    grouped = sequential.always_valid_p([4.0, 2.0, 0.5, 5.0], groups=[1, 1, 2, 2])
    np.testing.assert_allclose(grouped, [0.25, 0.25, 1.0, 0.2])


def test_evalue_stream_matches_counts_and_restarts_per_group() -> None:
    x = ACCURACY_STREAM[:400]
    e = oracles.beta_mixture_evalue_stream(x, 0.85)
    assert float(e[99]) == approx(1.35012, 1e-5)
    both = oracles.beta_mixture_evalue_stream(
        np.concatenate([x, x]), 0.85, groups=[0] * 400 + [1] * 400
    )
    np.testing.assert_allclose(both[400:], e, rtol=1e-9)


def test_worked_example_9_3_and_oracle_25() -> None:
    block = np.zeros(25)
    block[[0, 16]], block[8] = 1, -1
    d = np.tile(block, 16)  # n = 400, b = 32, c = 16
    assert (d == 1).sum() == 32 and (d == -1).sum() == 16
    assert float(sequential.beta_mixture_evalue(368, 400, 0.85)) == pytest.approx(1849.99, rel=1e-5)
    assert float(sequential.beta_mixture_evalue(368, 400, 0.85)) >= 1 / 0.0125
    assert sequential.prpl_eb_paired(d, 0.0125).lower[-1] == approx(-0.028967)
    assert sequential.prpl_eb_paired(d, 0.05).lower[-1] == approx(-0.015258)
    assert pair(fixed.wilson(368, 400)) == approx([0.889245, 0.942764])


def test_grouped_prpl_eb_equals_one_stream_at_a_time() -> None:
    rng = np.random.default_rng(5)
    lengths = rng.integers(1, 300, 40)
    streams = [rng.uniform(0, 1, k) ** 2 for k in lengths]
    groups = np.repeat(np.arange(40), lengths)
    together = sequential.prpl_eb(np.concatenate(streams), 0.05, groups=groups)
    alone = [sequential.prpl_eb(x, 0.05) for x in streams]
    for field in ("low", "high", "lower"):
        expected = np.concatenate([getattr(a, field) for a in alone])
        np.testing.assert_allclose(getattr(together, field), expected, atol=1e-9)


def test_lan_demets_spending_oracle_26() -> None:
    t = [0.2, 0.4, 0.6, 0.8, 1.0]
    np.testing.assert_allclose(
        oracles.obrien_fleming_spending(t),
        [1.17264e-05, 0.00194191, 0.0113964, 0.0284296, 0.05],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        oracles.pocock_spending(t), [0.0147697, 0.0261569, 0.0354257, 0.043242, 0.05], rtol=1e-5
    )


# --- §4.4 evidence needed ---


def test_evidence_needed_reproduces_the_price_of_peeking_table() -> None:
    p = [0.90, 0.92, 0.95, 0.97]
    p0 = [0.85, 0.85, 0.90, 0.95]
    np.testing.assert_array_equal(sequential.evidence_needed(p, p0, 0.05), [395, 180, 245, 815])
    np.testing.assert_array_equal(
        sequential.evidence_needed(p[:3], p0[:3], 0.0125), [535, 255, 325]
    )


def test_evidence_needed_never_when_at_or_below_the_floor() -> None:
    out = sequential.evidence_needed([0.85, 0.80, np.nan], [0.85, 0.85, 0.85])
    assert np.isinf(out[0]) and np.isinf(out[1]) and np.isnan(out[2])


def test_evidence_needed_paired_reproduces_the_planning_values() -> None:
    n = sequential.evidence_needed_paired([0.05, 0.08, 0.10, 0.15], [0.05, 0.05, 0.10, 0.05], 0.05)
    np.testing.assert_array_equal(n, [380, 213, 750, 100])
    assert np.isinf(sequential.evidence_needed_paired(0.0, 0.10, 0.05))


def test_paired_stream_holds_the_rates_one_case_per_step() -> None:
    d = sequential.paired_stream([0.05, 0.08, 0.5], [0.05, 0.05, 0.5], 1000)
    assert list((d == 1).sum(axis=1)) == [50, 80, 500]
    # a -1 falling due with a +1 (at t = 1000 here) waits for the next step
    assert list((d == -1).sum(axis=1)) == [49, 49, 499]
    assert list(d[0, 19:21]) == [1, -1]
    assert set(np.unique(d)) <= {-1.0, 0.0, 1.0}


# --- §5 selective labels and calibration (oracles 27-29) ---


def test_manski_bounds_oracle_27() -> None:
    assert pair(oracles.manski_bounds(0.6, 0.9)) == approx([0.54, 0.94])
    assert pair(oracles.manski_bounds(0.0, np.nan)) == [0.0, 1.0]


def test_audit_weighted_rate_oracle_28() -> None:
    r = oracles.audit_weighted_rate([200, 800], [200, 40], [170, 36])
    assert float(r.estimate) == approx(0.890000)
    assert float(r.se) == approx(0.036986)
    low, high = (
        float(r.estimate) - 1.959964 * float(r.se),
        float(r.estimate) + 1.959964 * float(r.se),
    )
    assert [low, high] == approx([0.817508, 0.962492])


CAL_Y = [0, 0, 0, 1, 0, 1, 1, 0, 1, 1]
CAL_P = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]


def test_calibration_oracle_29() -> None:
    assert oracles.brier(CAL_Y, CAL_P) == approx(0.1625)
    bins = oracles.reliability_bins(CAL_Y, CAL_P, 5)
    np.testing.assert_allclose(bins.prob_true, [0, 0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(bins.prob_pred, [0.1, 0.3, 0.5, 0.7, 0.9])
    assert list(bins.cases) == [2, 2, 2, 2, 2]
    assert oracles.expected_calibration_error(CAL_Y, CAL_P, 5) == approx(0.12)
    z = oracles.spiegelhalter(CAL_Y, CAL_P)
    assert [z.z, z.p_value] == approx([-0.085555, 0.931821])
    assert oracles.calibration_in_the_large(CAL_Y, CAL_P) == approx(0.0)


def test_calibration_edge_convention_is_sklearns_right_closed_bins() -> None:
    y = [0, 0, 0, 0, 1, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.4, 0.45, 0.55, 0.6, 0.7, 0.8, 0.9]
    assert oracles.brier(y, p) == approx(0.1205)
    bins = oracles.reliability_bins(y, p, 5)
    np.testing.assert_allclose(bins.prob_pred, [0.15, 0.35, 0.533333, 0.75, 0.9], atol=TOL)
    assert oracles.expected_calibration_error(y, p, 5) == approx(0.20)  # 0.12 if left-closed


def test_reliability_bins_equal_sklearn_calibration_curve() -> None:
    rng = np.random.default_rng(2)
    p = np.round(rng.uniform(0, 1, 3000), 2)  # many probabilities sit exactly on bin edges
    y = rng.binomial(1, p)
    for n_bins in (5, 10):
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins)
        bins = oracles.reliability_bins(y, p, n_bins)
        np.testing.assert_allclose(bins.prob_true, prob_true, atol=1e-12)
        np.testing.assert_allclose(bins.prob_pred, prob_pred, atol=1e-12)
        assert bins.cases.sum() == 3000


# --- §6 drift (oracles 30-32) ---


def test_psi_oracle_30() -> None:
    actual = [0.05, 0.05, 0.08, 0.10, 0.10, 0.12, 0.12, 0.13, 0.13, 0.12]
    assert float(monitoring.psi_from_shares([0.1] * 10, actual)) == approx(0.100459)


def test_psi_uses_reference_deciles_and_floors_empty_bins() -> None:
    reference = np.arange(1000) / 1000
    assert oracles.psi(reference, reference) == approx(0.0)
    # every current score above the reference's top decile: 9 empty bins at eps, one full bin
    shares = np.full(10, 1e-4)
    shares[-1] = 1.0
    assert oracles.psi(reference, np.full(50, 0.999)) == approx(
        float(monitoring.psi_from_shares([0.1] * 10, shares))
    )


def test_wasserstein_and_ks_oracle_31() -> None:
    assert oracles.wasserstein([0, 1, 3], [5, 6, 8]) == approx(5.0)
    assert oracles.ks_statistic(
        [0.1, 0.2, 0.3, 0.4, 0.5], [0.35, 0.45, 0.55, 0.65, 0.75]
    ) == approx(0.6)


def test_bernoulli_cusum_oracle_32() -> None:
    assert monitoring.cusum_weights(0.10, 0.20) == approx((0.693147, -0.117783))
    stream = [0] * 8 + [1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 1]
    run = monitoring.bernoulli_cusum(stream, 0.10, 0.20, h=3.5)
    expected = [0.0] * 8 + [0.693147, 0.575364, 0.457581, 0.339798, 1.032945, 1.726092]
    expected += [1.608309, 2.301457, 2.994604, 2.876821, 3.569968]
    np.testing.assert_allclose(run.s, expected, atol=TOL)
    assert list(run.alarms) == [18]


@pytest.mark.parametrize(
    ("cases", "error_rate"),
    [(3000, 0.2), (20_000, 0.11)],  # many alarms; few, with the chart carried across blocks
)
def test_cusum_restarts_after_an_alarm_like_the_plain_recursion(
    cases: int, error_rate: float
) -> None:
    rng = np.random.default_rng(9)
    errors = rng.binomial(1, error_rate, cases)
    run = monitoring.bernoulli_cusum(errors, 0.1, 0.2, h=3.0)
    w_err, w_ok = monitoring.cusum_weights(0.1, 0.2)
    s, expected, alarms = 0.0, [], []
    for t, e in enumerate(errors):
        s = max(0.0, s + (w_err if e else w_ok))
        expected.append(s)
        if s >= 3.0:
            alarms.append(t)
            s = 0.0
    np.testing.assert_allclose(run.s, expected, atol=1e-9)
    assert list(run.alarms) == alarms and len(alarms) > 3


# --- §7 cost (oracle 33) ---


def test_cost_and_net_benefit_oracle_33() -> None:
    tp, fn, fp, tn = np.array(
        [[40, 10, 120, 830], [30, 20, 80, 870], [50, 0, 950, 0], [0, 50, 0, 950]]
    ).T
    cost = fixed.expected_cost(tp, fp, fn, tn, cost_fn=50, cost_fp=1)
    np.testing.assert_allclose(cost, [0.62, 1.08, 0.95, 2.5], atol=TOL)
    p_t = oracles.cost_threshold(cost_fp=1, cost_fn=50)
    assert p_t == approx(0.019608)
    nb = oracles.net_benefit(tp, fp, 1000, p_t)
    np.testing.assert_allclose(nb, [0.0376, 0.0284, 0.031, 0.0], atol=TOL)
    # cost/case = C_FN·(prevalence - NB)
    np.testing.assert_allclose(cost, 50 * (0.05 - nb), atol=1e-12)


# --- validity by simulation ---


@pytest.mark.slow
def test_beta_mixture_gate_rarely_passes_at_the_floor() -> None:
    # 1 000 streams of 1 800 cases (90 days x 20) at exactly the floor, looked at after every case;
    # STATISTICS.md §4.1 simulated about 2.4 % for daily looks.
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(1000, 1800)) < 0.85).astype(float)
    e = oracles.beta_mixture_evalue_stream(x.ravel(), 0.85, groups=np.repeat(np.arange(1000), 1800))
    ever = (e.reshape(1000, 1800) >= 1 / 0.05).any(axis=1).mean()
    assert 0 < ever < 0.05


def test_prpl_eb_bounds_at_two_alphas_in_one_pass_equal_two_passes() -> None:
    rng = np.random.default_rng(4)
    d = rng.choice([-1, 0, 1], size=5000, p=[0.1, 0.8, 0.1])
    groups = np.repeat([0, 1, 2], [2000, 2500, 500])
    cs, lower = oracles.prpl_eb_paired_lowers(d, 0.05, 0.003, groups)
    alone = sequential.prpl_eb_paired(d, 0.05, groups)
    for got, want in zip(cs, alone, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(lower, sequential.prpl_eb_paired(d, 0.003, groups).lower, atol=1e-12)
    assert (lower <= cs.lower).all() and (lower < cs.lower).any()  # a smaller alpha, a wider bound


def test_the_one_sided_prpl_eb_alone_equals_the_lower_of_the_full_bound() -> None:
    rng = np.random.default_rng(8)
    lengths = rng.integers(1, 200, 30)
    x = rng.uniform(0, 1, lengths.sum())
    groups = np.repeat(np.arange(30), lengths)
    for alpha in (0.05, 0.0125):
        np.testing.assert_array_equal(
            oracles.prpl_eb_lower(x, alpha, groups), sequential.prpl_eb(x, alpha, groups).lower
        )


def test_prpl_eb_bounds_at_chosen_elements_equal_the_whole_stream_there() -> None:
    rng = np.random.default_rng(9)
    lengths = rng.integers(1, 300, 25)
    d = rng.choice([-1, 0, 1], size=lengths.sum(), p=[0.15, 0.7, 0.15])
    groups = np.repeat(np.arange(25), lengths)
    at = np.sort(rng.choice(d.size, 200, replace=False))
    cs, lower = oracles.prpl_eb_paired_lowers(d, 0.05, 0.01, groups, at=at)
    whole, whole_lower = oracles.prpl_eb_paired_lowers(d, 0.05, 0.01, groups)
    for got, want in zip(cs, whole, strict=True):
        np.testing.assert_array_equal(got, want[at])
    np.testing.assert_array_equal(lower, whole_lower[at])
    x = (d + 1) / 2
    np.testing.assert_array_equal(
        oracles.prpl_eb_lower(x, 0.01, groups, at=at), sequential.prpl_eb(x, 0.01, groups).lower[at]
    )


@pytest.mark.parametrize("cut", [1, 137, 2_999])
def test_a_prpl_eb_stream_continued_from_its_sums_is_the_stream_read_at_once(cut: int) -> None:
    # what a daily refresh relies on: the sums where yesterday's run stopped, carried into today's
    # run over the new elements, give the bounds of one run over everything, to the last bit
    rng = np.random.default_rng(11)
    x = (rng.choice([-1, 0, 1], size=3_000, p=[0.1, 0.75, 0.15]) + 1) / 2
    logs = (float(np.log(2 / 0.05)), float(np.log(1 / 0.01)))
    whole, _ = sequential.prpl_eb_run(x, logs)
    _, trail = sequential.prpl_eb_run(x[:cut], logs)
    rest, _ = sequential.prpl_eb_run(x[cut:], logs, sums=trail.sums())
    for got, want in zip(rest, whole, strict=True):
        np.testing.assert_array_equal(got, want[:, cut:])
    # and the bounds are those of the oracle-tested stream function
    np.testing.assert_allclose(
        np.maximum(whole[1][0] - whole[1][1], 0.0),
        sequential.prpl_eb(x, 0.01).lower,
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("cut", [1, 4_095, 4_096, 7_777])
def test_a_cusum_continued_from_its_value_is_the_chart_run_at_once(cut: int) -> None:
    rng = np.random.default_rng(12)
    errors = rng.binomial(1, 0.14, 12_000)
    whole = monitoring.bernoulli_cusum(errors, 0.1, 0.2, h=4.0)
    head = monitoring.bernoulli_cusum(errors[:cut], 0.1, 0.2, h=4.0)
    tail = monitoring.bernoulli_cusum(errors[cut:], 0.1, 0.2, h=4.0, start=float(head.s[-1]))
    np.testing.assert_array_equal(np.r_[head.s, tail.s], whole.s)
    assert [*head.alarms, *(tail.alarms + cut)] == list(whole.alarms)
    assert len(whole.alarms) > 2
