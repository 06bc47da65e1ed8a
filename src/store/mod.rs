//! Durable facts in an embedded SQLite database (issue 5).
