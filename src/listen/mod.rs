//! Where connections come in, for both ports (agents and the management API): who is
//! admitted and how many (`admission`), TLS (`tls`), and refusals logged within a budget
//! (`log_budget`). Nothing here knows OpAMP or the API; they build on it.

pub mod admission;
pub mod log_budget;
pub mod tls;
