//! Helpers for the tests of this crate and of the crates above it (feature
//! `testing`; see also `store::faulty` and `store::conformance`).

use quickcheck::QuickCheck;

/// A quickcheck runner for `MOONVAULT_QC_CASES` passing cases (or `default`),
/// so CI runs a few and a long run is one environment variable away.
/// quickcheck caps a run at `QUICKCHECK_MAX_TESTS` (10,000) attempts however
/// many passes `tests` asks for, so the cap is raised with the count.
pub fn quickcheck_cases(default: u64) -> QuickCheck {
    let cases = std::env::var("MOONVAULT_QC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    QuickCheck::new()
        .tests(cases)
        .max_tests(cases.saturating_mul(10))
}
