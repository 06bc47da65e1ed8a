//! Simulated agents that speak real OpAMP over the network (issue 3).
