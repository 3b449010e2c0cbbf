//! Project configuration: files -> located YAML trees -> merged entities -> typed configs.

pub mod diag;
pub mod fields;
pub mod model;
pub mod project;
pub mod typed;
pub mod vars;
pub mod yaml;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use project::{EntityDef, FlowDef, Project, discover, load};
