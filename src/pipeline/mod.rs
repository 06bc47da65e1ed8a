//! Resource types, configurations and Collector YAML rendering (issue 5). Pure: no I/O
//! beyond reading the files it is asked to load.

pub mod template;
