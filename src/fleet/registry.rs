//! The fleet registry: the single owner of live agent state.
