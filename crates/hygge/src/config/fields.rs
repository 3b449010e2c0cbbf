//! The keys a serde struct accepts (the probe lives with the connectors, whose key lists
//! the registry derives from their structs the same way).

pub use hygge_connectors::keys::field_names;
