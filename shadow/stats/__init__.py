"""The statistics the product computes with, by topic; docs/statistics.md says what each is and why.

- fixed: intervals, tests and agreement for one period's cases (the published numbers);
- sequential: the anytime-valid e-values and confidence sequences the gates decide on, and the
  evidence a gate still needs;
- monitoring: the decline alarm (CUSUM) and score drift (PSI).
Pure numpy and scipy.special: arrays in, arrays out. Statistics used only to check these (other
intervals, other tests) live with the tests, as their oracles.
"""
