//! The management API (issue 9).
