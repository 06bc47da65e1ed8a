//! Resource types, configurations and Collector YAML rendering. Pure: no I/O
//! beyond reading the files it is asked to load.
//!
//! - [`template`]: a Go `text/template` engine for resource-type templates.
//! - [`types`] / [`registry`]: resource types, their parameters, and the registry
//!   ([`TypeRegistry::builtin`], [`TypeRegistry::load_dir`]).
//! - [`config`]: `Configuration` and `Destination` resources; [`resource`]: multi-document
//!   parsing with kind detection.
//! - [`render()`]: a configuration → Collector YAML (see [`render`](mod@render) for the ID
//!   and pipeline scheme); [`diff()`]: line diff between versions.

pub mod builder;
pub mod config;
pub mod diff;
pub mod locate;
pub mod name;
pub mod problem;
pub mod registry;
pub mod render;
pub mod resource;
pub mod secrets;
pub mod template;
pub mod types;

pub use config::{Configuration, Destination, Parameters};
pub use diff::{DiffLine, diff};
pub use problem::{Problem, Problems};
pub use registry::TypeRegistry;
pub use render::{
    ComponentMap, ComponentPlace, DestinationResolver, NoDestinations, RenderOptions, Rendered,
    component_map, mask_configuration, render, render_masked, render_with,
};
pub use resource::{ParsedResource, Resource, parse_resources};
pub use secrets::{MASK, Redactor};
pub use types::{ResourceType, Signal, TypeKind};
