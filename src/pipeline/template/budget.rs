//! What one render may produce and do. A template renders a fragment of a Collector
//! configuration (kilobytes); these limits stop only templates that would take the
//! server's memory or time with them, with an error instead of an abort.

/// Deepest nesting of control structures and sub-pipelines; guards against runaway input.
pub(super) const MAX_DEPTH: usize = 200;
/// Bytes one render may write.
pub(super) const MAX_OUTPUT: usize = 1 << 20;
/// Steps (actions, function calls, loop turns) one render may take.
pub(super) const MAX_STEPS: u64 = 1_000_000;
/// `range N` over an integer.
pub(super) const MAX_RANGE: i64 = 10_000;
/// The widest indent or printf width and precision a template may ask for.
pub(super) const MAX_WIDTH: usize = 1024;
