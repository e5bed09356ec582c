//! The retry's side of a composed call: all that the pipeline and the
//! HTTP layers use of a retry. [`Progress`] is one call's standing
//! (attempts, the last delay, what it holds of the budget), plain data
//! that every retrying future reuses; a budget hold outlives the call
//! while an HTTP response body is read.

pub(crate) use super::budget::BudgetCall;
#[cfg(feature = "http")]
pub(crate) use super::budget::BudgetHold;
pub(crate) use super::future::Progress;
