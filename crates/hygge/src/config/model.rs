//! The typed shape of `hygge.yml`, `flow.yml` and entity files, as the original defines them.
//! Unknown keys are errors (the original ignored them silently); keys the original wrote
//! but never read are accepted with a warning.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::fields::field_names;

use hygge_core::RunType;

/// `hygge.yml`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// Project name (default: the folder's name).
    #[serde(default)]
    pub name: Option<String>,
    /// Folder of flows, default `flows`.
    #[serde(default)]
    pub flows_dir: Option<String>,
    /// Named connections (used by SQL homes and stores).
    #[serde(default)]
    pub connections: Option<serde_json::Map<String, serde_json::Value>>,
    /// Named credentials (used by the cloud homes and stores: `credential: <name>`).
    #[serde(default)]
    pub credentials: Option<serde_json::Map<String, serde_json::Value>>,
    /// Project-wide journal.
    #[serde(default)]
    pub journal: Option<JournalConfig>,
    /// Run options.
    #[serde(default)]
    pub options: Option<ProjectOptions>,
}

/// `hygge.yml` `options`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectOptions {
    /// Entity flows that run at once (default 8).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// When true, failed entities are reported but the run exits 0.
    #[serde(default)]
    pub continue_on_error: Option<bool>,
    /// Console log level: DEBUG, INFO, WARNING, ERROR.
    #[serde(default)]
    pub log_level: Option<String>,
    /// The run's log file, relative to the project folder (default `logs/hygge.log`, as the
    /// original); `false` for none.
    #[serde(default)]
    pub log_file: Option<serde_json::Value>,
}

// `connections.<name>`: typed by the connector its `type` names, through the registry
// (`hygge_connectors::registry::CONNECTIONS`).

/// `journal:` (project, flow or entity).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// A folder; the journal is `<path>/journal.parquet`.
    #[serde(default)]
    pub path: Option<String>,
    /// `store` (default) or `home`: next to the data.
    #[serde(default)]
    pub location: Option<JournalLocation>,
}

/// Where the journal lives when no `path` is given.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JournalLocation {
    /// Beside the store's data.
    Store,
    /// Beside the home's data.
    Home,
}

/// The keys of `flows/<flow>/flow.yml` besides the run settings ([`EntitySettings`]),
/// listed by this struct's fields ([`flow_keys`]); `flow.yml` is read key by key.
#[derive(Deserialize)]
#[allow(dead_code)] // read for its keys
pub struct FlowKeys {
    /// Ignored: the flow's name is its folder's.
    name: IgnoredAny,
    /// Required: a path, or a mapping with `type`.
    home: IgnoredAny,
    /// Required: a path, or a mapping with `type`.
    store: IgnoredAny,
    /// The entities: names or mappings.
    entities: IgnoredAny,
    /// Merged under every `entities/*.yml` file.
    defaults: IgnoredAny,
}

/// The keys of [`FlowKeys`].
pub fn flow_keys() -> &'static [&'static str] {
    field_names::<FlowKeys>()
}

/// `watermark:`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Watermark {
    /// Key of a row.
    pub primary_key: String,
    /// Column whose maximum marks how far a load got.
    pub watermark_column: String,
    /// `inclusive` (default): the next run reads rows at or after the watermark, less those
    /// already written (by primary key), so later rows sharing the watermark's value are
    /// read; `strict` (as the original): rows after it.
    #[serde(default)]
    pub boundary: Option<Boundary>,
}

/// What a reconciliation mismatch does.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Reconcile {
    /// Fail the entity; nothing is published.
    Fail,
    /// Log a warning and publish.
    Warn,
}

/// `schema:` of a flow, its `defaults` or an entity: what a run does when the source's
/// schema differs from the last run's snapshot (or from `expected_schema_path`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    /// `strict`, `warn` (default) or `adapt`.
    #[serde(default)]
    pub mode: Option<hygge_core::schema::SchemaMode>,
    /// A JSON or YAML file (relative to the project) with the expected columns
    /// (`columns: [{name, type, nullable}]`); the source is checked against it instead of
    /// the last run's snapshot.
    #[serde(default)]
    pub expected_schema_path: Option<String>,
}

/// How rows at the stored watermark are treated.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// `>`.
    Strict,
    /// `>=`, de-duplicated by primary key.
    Inclusive,
}

/// The run settings of a flow (`flow.yml` less [`FlowKeys`]), and of one entity after
/// merging.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EntitySettings {
    /// `full_drop` or `incremental`.
    #[serde(default)]
    pub run_type: Option<RunType>,
    /// Legacy: true = full_drop, false = incremental; overrides `run_type`.
    #[serde(default)]
    pub full_drop: Option<bool>,
    /// `{primary_key, watermark_column}`.
    #[serde(default)]
    pub watermark: Option<Watermark>,
    /// Journal settings.
    #[serde(default)]
    pub journal: Option<JournalConfig>,
    /// Batches between home and store.
    #[serde(default)]
    pub queue_size: Option<usize>,
    /// MiB of batches queued and being written, at most.
    #[serde(default)]
    pub queue_memory_mb: Option<usize>,
    /// Seconds per entity run (0: no limit).
    #[serde(default)]
    pub timeout: Option<u64>,
    /// Rows read and rows written differ: `fail` the entity (default, nothing published) or
    /// `warn` and publish.
    #[serde(default)]
    pub reconcile: Option<Reconcile>,
    /// Schema drift: `{mode: strict | warn | adapt, expected_schema_path}`.
    #[serde(default)]
    pub schema: Option<SchemaConfig>,
    /// Passed through.
    #[serde(default)]
    pub options: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An entity: a file in `entities/`, or a mapping in `entities:`; besides these keys, it
/// takes those of [`StoreKeysFromEntity`] and [`IgnoredEntityKeys`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityFile {
    /// The entity's name (`{entity}`, and the folder under home and store paths).
    pub name: String,
    /// Overrides the flow's run type.
    #[serde(default)]
    pub run_type: Option<RunType>,
    /// Legacy run type switch.
    #[serde(default)]
    pub full_drop: Option<bool>,
    /// Overrides the flow's watermark.
    #[serde(default)]
    pub watermark: Option<Watermark>,
    /// Overrides the flow's journal.
    #[serde(default)]
    pub journal: Option<JournalConfig>,
    /// Merged over the flow's home (two `path`s are joined).
    #[serde(default)]
    pub home: Option<serde_json::Map<String, serde_json::Value>>,
    /// Merged over the flow's store.
    #[serde(default)]
    pub store: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Entity keys the original copies into the store's configuration, listed by this struct's
/// fields ([`store_keys_from_entity`]): only some stores use them.
#[derive(Deserialize)]
#[allow(dead_code)] // read for its keys
pub struct StoreKeysFromEntity {
    /// SQL stores.
    if_exists: IgnoredAny,
    /// Rows per file or per bulk batch.
    batch_size: IgnoredAny,
    /// Stores that bulk-load on several connections.
    parallel_workers: IgnoredAny,
    /// SQL stores.
    timeout: IgnoredAny,
    /// Open Mirroring.
    folder_deletion_wait_seconds: IgnoredAny,
    /// Open Mirroring.
    deletion_query_timeout: IgnoredAny,
}

/// The keys of [`StoreKeysFromEntity`].
pub fn store_keys_from_entity() -> &'static [&'static str] {
    field_names::<StoreKeysFromEntity>()
}

/// Entity keys the original's `init` wrote but it never read: ignored with a warning.
/// Listed by this struct's fields ([`ignored_entity_keys`]).
#[derive(Deserialize)]
#[allow(dead_code)] // read for its keys
pub struct IgnoredEntityKeys {
    /// Column lists.
    columns: IgnoredAny,
    /// Source settings.
    source_config: IgnoredAny,
    /// In `defaults`.
    key_column: IgnoredAny,
}

/// The keys of [`IgnoredEntityKeys`].
pub fn ignored_entity_keys() -> &'static [&'static str] {
    field_names::<IgnoredEntityKeys>()
}
