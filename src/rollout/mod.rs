//! Config delivery and rollouts (issue 6).
