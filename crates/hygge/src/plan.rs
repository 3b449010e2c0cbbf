//! From a loaded project to a validated plan: one [`EntityPlan`] per entity, every error
//! collected. Validation touches nothing; building connectors happens after.

use std::path::{Path, PathBuf};

use hygge_connectors::registry::{
    self, Connections, Context, HomeConfig, Kind, PLANNED_TYPES, StoreConfig, ValidHome, ValidStore,
};
use hygge_core::{FlowJob, FlowSpec, RunType};

use crate::config::diag::{did_you_mean, likely_typo};
use crate::config::model::{
    EntitySettings, JournalConfig, JournalLocation, Watermark, store_keys_from_entity,
};
use crate::config::typed::{check_keys, typed, typed_with};
use crate::config::yaml::{Loc, Node, Value};
use crate::config::{Diagnostics, EntityDef, Project};
use crate::journal::JournalAt;

/// One entity, validated and ready to build.
#[derive(Debug, Clone)]
pub struct EntityPlan {
    /// The base flow.
    pub flow: String,
    /// The entity.
    pub entity: String,
    /// `<flow>_<entity>` (the flow's name for a flow without entities).
    pub name: String,
    /// Replace or append.
    pub run_type: RunType,
    /// Batches between home and store.
    pub queue_size: usize,
    /// MiB of batches queued and being written, at most.
    pub queue_memory_mb: usize,
    /// The home.
    pub home: ValidHome,
    /// The store.
    pub store: ValidStore,
    /// The home's type.
    pub home_type: String,
    /// The store's type.
    pub store_type: String,
    /// `{primary_key, watermark_column}`, when configured.
    pub watermark: Option<Watermark>,
    /// The flow's `timeout`: a limit for each entity run.
    pub timeout: Option<std::time::Duration>,
    /// Where the entity's journal (`journal.parquet`) is kept, when one is configured: a
    /// local folder, or a cloud store's `.hygge_journal/` folder beside its data.
    pub journal: Option<JournalAt>,
    /// Fail (true) or warn when rows read and rows written differ.
    pub reconcile_strict: bool,
    /// `--full-drop`: a full reload, replacing even where `if_exists: append` is set.
    pub reload: bool,
    /// `schema: {mode}` (default `warn`).
    pub schema_mode: hygge_core::schema::SchemaMode,
    /// `schema: {expected_schema_path}`: the expected schema and the file it came from.
    pub expected_schema: Option<(arrow::datatypes::SchemaRef, String)>,
    /// Where the original (and hygge before checkpoints) kept the journal of a flow without
    /// entities: inside its store folder. Read when the journal has no entry for it.
    pub journal_legacy: Option<PathBuf>,
}

impl EntityPlan {
    /// Builds the connectors and the engine's job: reading rows from `position` (the
    /// journal's, used where the destination holds no checkpoint), as `run_type`.
    pub fn job(
        &self,
        position: Option<hygge_core::Position>,
        run_type: RunType,
        reload: bool,
        last_schema: Option<arrow::datatypes::SchemaRef>,
    ) -> FlowJob {
        FlowJob {
            spec: FlowSpec {
                flow: self.flow.clone(),
                entity: self.entity.clone(),
                name: self.name.clone(),
                run_type,
                reload,
                queue_size: self.queue_size,
                queue_memory_mb: self.queue_memory_mb,
                batch_size: self.home.batch_size,
                timeout: self.timeout,
                reconcile_strict: self.reconcile_strict,
                watermark: self.watermark.as_ref().map(|w| hygge_core::WatermarkSpec {
                    column: w.watermark_column.clone(),
                    primary_key: w.primary_key.clone(),
                    inclusive: w.boundary != Some(crate::config::model::Boundary::Strict),
                    start: position,
                }),
                schema: Some(self.schema_policy(run_type, reload, last_schema)),
            },
            home: self.home.build(),
            store: self.store.build(),
        }
    }
}

impl EntityPlan {
    /// The run's schema policy: against `expected_schema_path` when set, else against the
    /// last run's snapshot (`last`) — except for a run that replaces the destination, which
    /// takes the new schema whatever it is (only `expected_schema_path` still applies).
    pub fn schema_policy(
        &self,
        run_type: RunType,
        reload: bool,
        last: Option<arrow::datatypes::SchemaRef>,
    ) -> hygge_core::schema::SchemaPolicy {
        let replaces = run_type == RunType::FullDrop || reload;
        let (baseline, baseline_from) = match &self.expected_schema {
            Some((s, path)) => (Some(s.clone()), format!("expected_schema_path {path}")),
            None if replaces => (None, String::new()),
            None => (
                last,
                "the last run's schema (the journal's snapshot)".to_string(),
            ),
        };
        hygge_core::schema::SchemaPolicy {
            mode: self.schema_mode,
            baseline,
            baseline_from,
        }
    }
}

/// Reads `expected_schema_path` (JSON or YAML, relative to the project).
fn expected_schema(
    project: &Project,
    path: &str,
) -> Result<(arrow::datatypes::SchemaRef, String), String> {
    let full = project.root.join(path);
    let text = std::fs::read_to_string(&full)
        .map_err(|e| format!("expected_schema_path: cannot read {}: {e}", full.display()))?;
    let tree = hygge_connectors::tree::parse(&text, &full)
        .map_err(|(_, m)| format!("expected_schema_path: {}: {m}", full.display()))?;
    let schema = hygge_core::schema::from_json(&tree.to_json())
        .map_err(|m| format!("expected_schema_path: {}: {m}", full.display()))?;
    Ok((std::sync::Arc::new(schema), path.to_string()))
}

/// Overrides from the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--incremental` / `--full-drop`.
    pub run_type: Option<RunType>,
}

/// Validates every entity of the project.
pub fn plan(project: &Project, overrides: &Overrides, diags: &mut Diagnostics) -> Vec<EntityPlan> {
    let mut out = Vec::new();
    for flow in &project.flows {
        for e in &flow.entities {
            if let Some(p) = plan_entity(project, e, overrides, diags) {
                out.push(p);
            }
        }
    }
    out
}

fn plan_entity(
    project: &Project,
    e: &EntityDef,
    overrides: &Overrides,
    diags: &mut Diagnostics,
) -> Option<EntityPlan> {
    let errors_before = diags.errors().count();
    let c = &e.config;
    let (home_path, home) = plan_side::<HomeConfig>(project, e, diags);
    let (store_path, store) = plan_side::<StoreConfig>(project, e, diags);

    let mut rest = c.clone();
    rest.remove("home");
    rest.remove("store");
    let settings: EntitySettings = typed(&rest, "", diags)?;
    let run_type = run_type(overrides, &settings);
    let queue_size = bounded(
        c,
        "queue_size",
        settings.queue_size,
        (hygge_core::flow::DEFAULT_QUEUE_SIZE, 100),
        "",
        diags,
    );
    let queue_memory_mb = bounded(
        c,
        "queue_memory_mb",
        settings.queue_memory_mb,
        (hygge_core::flow::DEFAULT_QUEUE_MEMORY_MB, 65_536),
        " of MiB",
        diags,
    );
    let journal_cfg = settings.journal.as_ref().or(project.journal.as_ref());
    // A store that keeps no local folder but can hold a journal beside its data (a cloud
    // store): `location: store` puts it there.
    let store_journal = store.as_ref().and_then(|(s, _)| s.journal_folder());
    let journal = journal_cfg.and_then(|j| {
        if kept_at_store(j)
            && let Some(folder) = &store_journal
        {
            return Some(JournalAt::Objects(folder.clone()));
        }
        if kept_at_store(j) && store.is_none() && store_path.is_none() {
            return None; // the store's own errors say what is wrong
        }
        let dir = journal_dir(
            j,
            &project.root,
            home_path.as_deref(),
            store_path.as_deref(),
            e.implicit,
        );
        dir.map_err(|msg| {
            let loc = c.get("journal").map_or(&c.loc, |n| n.key_or_value_loc());
            diags.error(loc, "journal", msg);
        })
        .ok()
        .map(JournalAt::Folder)
    });
    let schema_cfg = settings.schema.clone().unwrap_or_default();
    let expected = schema_cfg.expected_schema_path.as_deref().and_then(|path| {
        expected_schema(project, path)
            .map_err(|msg| {
                let loc = c.get("schema").map_or(&c.loc, |n| n.key_or_value_loc());
                diags.error(loc, "schema", msg);
            })
            .ok()
    });
    if run_type == RunType::Incremental && settings.watermark.is_some() && journal_cfg.is_none() {
        no_journal_for_watermark(e, diags);
    }
    let (home, home_type) = home?;
    let (store, store_type) = store?;
    let local_journal = journal.as_ref().and_then(JournalAt::local);
    check_store_folder(project, e, &home, &store, local_journal, diags);
    if diags.errors().count() > errors_before {
        return None;
    }
    Some(EntityPlan {
        flow: e.flow.clone(),
        entity: e.entity.clone(),
        name: e.name.clone(),
        run_type,
        queue_size,
        queue_memory_mb,
        home,
        store,
        home_type,
        store_type,
        timeout: settings
            .timeout
            .filter(|s| *s > 0)
            .map(std::time::Duration::from_secs),
        watermark: settings.watermark,
        journal,
        reconcile_strict: settings.reconcile != Some(crate::config::model::Reconcile::Warn),
        reload: overrides.run_type == Some(RunType::FullDrop),
        schema_mode: schema_cfg
            .mode
            .unwrap_or(hygge_core::schema::SchemaMode::Warn),
        expected_schema: expected,
        journal_legacy: journal_cfg.and_then(|j| legacy_journal_dir(j, e, store_path.as_deref())),
    })
}

/// What planning does alike for a home and a store, told apart by this trait.
trait Side: Sized + 'static {
    /// The validated configuration.
    type Valid;
    /// `home` or `store`: the key in a flow, and the word in messages.
    const WHICH: &'static str;
    /// The registry's kinds of this side.
    fn kinds() -> &'static [Kind<Self>];
    /// Whether each entity reads or writes `<path>/<entity>` (file connectors).
    fn entity_folder(e: &EntityDef) -> bool;
    /// A login this configuration sends to a server that is not verified.
    fn credential_warning(&self, connections: &Connections) -> Option<(String, String)>;
    /// The connector's own validation.
    fn validate(&self, ctx: Context<'_>) -> Result<Self::Valid, String>;
}

impl Side for HomeConfig {
    type Valid = ValidHome;
    const WHICH: &'static str = "home";
    fn kinds() -> &'static [Kind<Self>] {
        registry::HOMES
    }
    fn entity_folder(e: &EntityDef) -> bool {
        !e.implicit && !e.home_path_from_entity
    }
    fn credential_warning(&self, connections: &Connections) -> Option<(String, String)> {
        HomeConfig::credential_warning(self, connections)
    }
    fn validate(&self, ctx: Context<'_>) -> Result<ValidHome, String> {
        self.validate_in(ctx)
    }
}

impl Side for StoreConfig {
    type Valid = ValidStore;
    const WHICH: &'static str = "store";
    fn kinds() -> &'static [Kind<Self>] {
        registry::STORES
    }
    fn entity_folder(e: &EntityDef) -> bool {
        !e.implicit
    }
    fn credential_warning(&self, connections: &Connections) -> Option<(String, String)> {
        StoreConfig::credential_warning(self, connections)
    }
    fn validate(&self, ctx: Context<'_>) -> Result<ValidStore, String> {
        self.validate_in(ctx)
    }
}

/// The entity's home or store: its `path` as resolved (even when the rest is invalid; the
/// journal may live beside it), and the validated configuration with its type.
fn plan_side<S: Side>(
    project: &Project,
    e: &EntityDef,
    diags: &mut Diagnostics,
) -> (Option<PathBuf>, Option<(S::Valid, String)>) {
    let Some((node, ty)) = side::<S>(project, e, diags) else {
        return (None, None);
    };
    // A remote connector's `path` (a cloud store's folder in its container) is no local
    // folder: a cloud store keeps the journal in its container (`ValidStore::
    // journal_folder`); a database store has none, so `location: store` asks for a
    // journal `path`.
    let remote = registry::kind(S::kinds(), &ty).is_some_and(|k| k.remote);
    let path = (!remote)
        .then(|| node.get("path").and_then(Node::as_str).map(PathBuf::from))
        .flatten();
    let Some(cfg) = side_config::<S>(&node, &ty, diags) else {
        return (path, None);
    };
    let ctx = Context {
        entity_folder: S::entity_folder(e),
        connections: &project.connection_configs,
    };
    let warning = cfg.credential_warning(&project.connection_configs);
    warn_credentials(project, warning, &node, S::WHICH, diags);
    let valid = report(cfg.validate(ctx), &node, S::WHICH, diags).map(|v| (v, ty));
    (path, valid)
}

/// `--incremental` / `--full-drop`, else the original's `full_drop: true|false`, else
/// `run_type`, else full_drop.
fn run_type(overrides: &Overrides, settings: &EntitySettings) -> RunType {
    let legacy = settings.full_drop.map(|full| {
        if full {
            RunType::FullDrop
        } else {
            RunType::Incremental
        }
    });
    overrides
        .run_type
        .or(legacy)
        .or(settings.run_type)
        .unwrap_or_default()
}

/// The entity's `key`, or its `default`; an error unless from 1 to `max` (`what` says in
/// what unit).
fn bounded(
    c: &Node,
    key: &str,
    value: Option<usize>,
    (default, max): (usize, usize),
    what: &str,
    diags: &mut Diagnostics,
) -> usize {
    let value = value.unwrap_or(default);
    if !(1..=max).contains(&value) {
        let loc = c.get(key).map_or(&c.loc, |n| &n.loc);
        diags.error(
            loc,
            key,
            format!("{key} must be a whole number{what} from 1 to {max}"),
        );
    }
    value
}

/// An incremental entity with a watermark needs a journal: without one, every run would
/// load every row again.
fn no_journal_for_watermark(e: &EntityDef, diags: &mut Diagnostics) {
    let c = &e.config;
    let loc = c.get("watermark").map_or(&c.loc, |n| n.key_or_value_loc());
    diags.error(
        loc,
        "watermark",
        format!(
            "entity `{}` is incremental by watermark, but no journal is configured, so hygge would not know where the last run stopped and would load every row again; add `journal: {{path: .hygge_journal}}` to hygge.yml (or the flow), or run it as full_drop",
            e.name
        ),
    );
}

/// Refuses a local store folder that a run must not replace ([`overlaps`]).
fn check_store_folder(
    project: &Project,
    e: &EntityDef,
    home: &ValidHome,
    store: &ValidStore,
    journal: Option<&Path>,
    diags: &mut Diagnostics,
) {
    let Some(folder) = store.local_folder(&e.entity) else {
        return;
    };
    let c = &e.config;
    let loc = c
        .get("store")
        .and_then(|s| s.get("path"))
        .map_or(&c.loc, |n| n.key_or_value_loc());
    let log_file = log_file(project);
    for msg in overlaps(
        &e.entity,
        &folder,
        &project.root,
        home.local_path(&e.entity).as_deref(),
        journal,
        log_file.as_deref(),
    ) {
        diags.error(loc, "store.path", msg);
    }
}

/// Where the original (and hygge before checkpoints) kept the journal of a flow without
/// entities: `.hygge_journal/` inside its store folder.
fn legacy_journal_dir(j: &JournalConfig, e: &EntityDef, store: Option<&Path>) -> Option<PathBuf> {
    if e.implicit && kept_at_store(j) {
        store.map(|s| s.join(".hygge_journal"))
    } else {
        None
    }
}

/// The project's log file: `options.log_file` (relative to the project folder), else
/// `logs/hygge.log`; none when `options.log_file` is empty or not text.
pub fn log_file(project: &Project) -> Option<PathBuf> {
    match &project.options.log_file {
        None => Some(project.root.join("logs").join("hygge.log")),
        Some(serde_json::Value::String(p)) if !p.is_empty() => Some(project.root.join(p)),
        Some(_) => None,
    }
}

/// Typed by the registry's kind for `ty` (per variant, not through the tagged enum, so
/// errors keep their key path).
fn side_config<S: Side>(node: &Node, ty: &str, diags: &mut Diagnostics) -> Option<S> {
    let mut n = node.clone();
    n.remove("type");
    let kind = registry::kind(S::kinds(), ty)?;
    typed_with(&n, S::WHICH, diags, kind.parse)
}

/// Warns (once per connection: at the named connection in `hygge.yml`, or at the home or
/// store that gives the keys inline) that its login goes to a server that is not verified.
fn warn_credentials(
    project: &Project,
    warning: Option<(String, String)>,
    node: &Node,
    which: &str,
    diags: &mut Diagnostics,
) {
    let Some((name, message)) = warning else {
        return;
    };
    match project.connection_locs.get(&name) {
        Some(loc) if name != "inline" => {
            diags.warn(loc, format!("connections.{name}"), message);
        }
        _ => diags.warn(node.key_or_value_loc(), which, message),
    }
}

/// Reports a connector's validation error at the key it names (`key: message`).
fn report<T>(
    result: Result<T, String>,
    node: &Node,
    which: &str,
    diags: &mut Diagnostics,
) -> Option<T> {
    result
        .map_err(|msg| {
            let key = msg.split(':').next().unwrap_or_default().trim().to_string();
            let loc: Loc = node
                .get(&key)
                .map(|n| n.loc.clone())
                .unwrap_or_else(|| node.loc.clone());
            diags.error(&loc, format!("{which}.{key}"), msg);
        })
        .ok()
}

/// The checked, path-resolved mapping of `home` or `store`, and its type.
fn side<S: Side>(
    project: &Project,
    e: &EntityDef,
    diags: &mut Diagnostics,
) -> Option<(Node, String)> {
    let which = S::WHICH;
    let Some(node) = e.config.get(which) else {
        diags.error(&e.loc, which, format!("flow `{}` has no `{which}`", e.flow));
        return None;
    };
    if !matches!(node.value, Value::Map(_)) {
        diags.error(
            &node.loc,
            which,
            format!(
                "`{which}` must be a path or a mapping with `type`, found {}",
                node.kind()
            ),
        );
        return None;
    }
    let ty = side_type::<S>(node, diags)?;
    let fields = &(registry::kind(S::kinds(), &ty)?.keys)();
    let node = &apply_options(node, which, &ty, fields, diags);
    let mut clean = side_keys(node, which, &ty, fields, diags);
    if let Some(v) = clean.get("path")
        && let Some(text) = v.as_str()
        && text.trim().is_empty()
    {
        diags.error(
            &v.loc,
            format!("{which}.path"),
            format!(
                "`path` is empty (set from an environment variable that is empty, such as `${{OUT}}` or `${{OUT:-}}`?); {} needs a folder of its own",
                if which == "home" { "a home" } else { "a store" }
            ),
        );
        return None;
    }
    // A remote connector's `path` is not a local path: left as written.
    if !registry::kind(S::kinds(), &ty).is_some_and(|k| k.remote) {
        resolve_path(&mut clean, &project.root);
    }
    Some((clean, ty))
}

/// The side's `type` (`parquet` when none is given), by its canonical name; an error
/// unless this build has it.
fn side_type<S: Side>(node: &Node, diags: &mut Diagnostics) -> Option<String> {
    let which = S::WHICH;
    let canonical = |t: &str| {
        registry::kind(S::kinds(), t)
            .map(|k| k.name)
            .unwrap_or(t)
            .to_string()
    };
    let ty = match node.get("type").map(|t| (t, t.as_str())) {
        Some((_, Some(t))) => canonical(t),
        Some((t, None)) => {
            diags.error(&t.loc, format!("{which}.type"), "`type` must be text");
            return None;
        }
        None => "parquet".into(),
    };
    let available: &[&str] = &registry::names(S::kinds());
    if available.contains(&ty.as_str()) {
        return Some(ty);
    }
    let loc = node
        .get("type")
        .map(|t| t.loc.clone())
        .unwrap_or_else(|| node.loc.clone());
    if PLANNED_TYPES.contains(&ty.as_str()) {
        diags.error(
            &loc,
            format!("{which}.type"),
            format!(
                "{which} type `{ty}` is not available in this version of hygge yet (available: {})",
                available.join(", ")
            ),
        );
    } else {
        let hint = did_you_mean(&ty, available)
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        diags.error(
            &loc,
            format!("{which}.type"),
            format!(
                "unknown {which} type `{ty}`; {hint}available: {}",
                available.join(", ")
            ),
        );
    }
    None
}

/// The side's mapping with only the keys its type takes (`type` and `fields`): unknown
/// keys are errors; the keys an entity copies into every store that this store does not
/// use are dropped with a warning.
fn side_keys(node: &Node, which: &str, ty: &str, fields: &[&str], diags: &mut Diagnostics) -> Node {
    let mut allowed: Vec<&str> = vec!["type"];
    allowed.extend_from_slice(fields);
    // Keys an entity copies into every store: only some stores use them.
    let ignored: Vec<&str> = if which == "store" {
        store_keys_from_entity()
            .iter()
            .copied()
            .filter(|k| !allowed.contains(k))
            .collect()
    } else {
        vec![]
    };
    let mut clean = check_keys(
        node,
        &allowed,
        &[],
        &format!("a {ty} {which}"),
        which,
        diags,
    );
    for key in &ignored {
        if let Some(v) = clean.remove(key) {
            diags.warn(
                &v.loc,
                format!("{which}.{key}"),
                format!("`{key}` does not apply to a {ty} store; ignored"),
            );
        }
    }
    clean
}

/// The keys the original hygge read from `options:` under a home (its base class: the read
/// batch and the progress interval) or a store (rows per file, and a file store's names).
const HOME_OPTION_KEYS: &[&str] = &["batch_size", "row_multiplier"];
const STORE_OPTION_KEYS: &[&str] = &["batch_size", "file_pattern"];

/// `options:` under a home or store, merged as the original merged it: the keys it read
/// there ([`HOME_OPTION_KEYS`], [`STORE_OPTION_KEYS`], where this type has them) are set
/// over the ones written beside `options`; every other key had no effect in the original
/// and is ignored with a warning that says so (one the type takes beside `options` is
/// pointed there); a likely misspelling of a key read there is an error.
fn apply_options(
    node: &Node,
    which: &str,
    ty: &str,
    fields: &[&str],
    diags: &mut Diagnostics,
) -> Node {
    let mut out = node.clone();
    let Some(options) = out.remove("options") else {
        return out;
    };
    let entries = match &options.value {
        Value::Map(entries) => entries.clone(),
        Value::Null => return out,
        _ => {
            diags.error(
                &options.loc,
                format!("{which}.options"),
                format!(
                    "`options` must be a mapping of keys, found {}",
                    options.kind()
                ),
            );
            return out;
        }
    };
    let keys = OptionKeys::new(which, ty, fields);
    for (key, value) in entries {
        keys.apply(&mut out, &key, value, diags);
    }
    out
}

/// What a home's or store's `options:` means for one type.
struct OptionKeys<'a> {
    which: &'a str,
    ty: &'a str,
    /// The keys the type takes beside `options`.
    fields: &'a [&'a str],
    /// The keys read under `options` (of [`HOME_OPTION_KEYS`] or [`STORE_OPTION_KEYS`],
    /// those the type has).
    read: Vec<&'a str>,
    /// `read`, for messages.
    listed: String,
}

impl<'a> OptionKeys<'a> {
    fn new(which: &'a str, ty: &'a str, fields: &'a [&'a str]) -> Self {
        let read: Vec<&str> = if which == "home" {
            HOME_OPTION_KEYS
        } else {
            STORE_OPTION_KEYS
        }
        .iter()
        .copied()
        .filter(|k| fields.contains(k))
        .collect();
        let listed = read
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        OptionKeys {
            which,
            ty,
            fields,
            read,
            listed,
        }
    }

    /// Sets `options.<key>` over the key beside `options` if it is read there; otherwise
    /// says why it has no effect (an error for a likely misspelling of one that is read).
    fn apply(&self, out: &mut Node, key: &str, value: Node, diags: &mut Diagnostics) {
        let OptionKeys {
            which, ty, listed, ..
        } = self;
        let at = format!("{which}.options.{key}");
        let loc = value.key_or_value_loc().clone();
        if self.read.contains(&key) {
            if let Some(beside) = out.get(key)
                && beside.to_json() != value.to_json()
            {
                diags.warn(
                    &loc,
                    at,
                    format!(
                        "`{which}.options.{key}` is used instead of `{which}.{key}`, as the original hygge did; set `{key}` in one place"
                    ),
                );
            }
            out.set(key, value);
        } else if let Some(s) = likely_typo(key, &self.read) {
            diags.error(
                &loc,
                at,
                format!(
                    "unknown key `{key}` in {which}.options; did you mean `{s}`? (a {ty} {which} reads {listed} there)"
                ),
            );
        } else if self.fields.contains(&key) {
            diags.warn(
                &loc,
                at,
                format!(
                    "`{which}.options.{key}` has no effect: the original hygge read only {listed} under a {which}'s `options`, and so does hygge; write `{key}` beside `options`, as `{which}.{key}`"
                ),
            );
        } else {
            diags.warn(
                &loc,
                at,
                format!(
                    "`{which}.options.{key}` has no effect and is ignored (the original hygge ignored it too; a {ty} {which} reads {listed} there)"
                ),
            );
        }
    }
}

/// Where an entity's journal lives, as the original: `journal.path` (relative to the
/// project), else `.hygge_journal/` in the store's folder (`location: store`, the default)
/// or the home's (`location: home`). A flow without entities writes its store folder
/// itself, which a run replaces whole: its journal goes beside that folder, not inside
/// (the original put it inside; [`legacy_journal_dir`] finds it there). A cloud store's
/// journal (`location: store`) is in its container instead
/// ([`ValidStore::journal_folder`]), settled before this is asked.
fn journal_dir(
    j: &JournalConfig,
    root: &Path,
    home: Option<&Path>,
    store: Option<&Path>,
    implicit: bool,
) -> Result<PathBuf, String> {
    if implicit
        && kept_at_store(j)
        && let Some(s) = store
    {
        return Ok(s.parent().unwrap_or(Path::new(".")).join(".hygge_journal"));
    }
    if let Some(p) = &j.path {
        return Ok(root.join(p));
    }
    let (side, base) = match j.location.unwrap_or(JournalLocation::Store) {
        JournalLocation::Store => ("store", store),
        JournalLocation::Home => ("home", home),
    };
    match base {
        Some(b) if b.extension().is_none() || b.is_dir() => Ok(b.join(".hygge_journal")),
        Some(b) => Ok(b.parent().unwrap_or(Path::new(".")).join(".hygge_journal")),
        None => Err(format!(
            "journal: location `{side}` needs a {side} with a `path` (a folder); give the journal its own `path`"
        )),
    }
}

/// Whether the journal goes by its store (no `path`, `location: store` or none).
fn kept_at_store(j: &JournalConfig) -> bool {
    j.path.is_none() && j.location.unwrap_or(JournalLocation::Store) == JournalLocation::Store
}

/// Why a store folder may not be used: a run replaces the folder whole, so it must hold
/// nothing but the store's own output. Refused: the project folder or a folder above it,
/// the home's data (or a folder above it, or inside it: the next run would read its own
/// output), a folder holding the journal or the log file.
fn overlaps(
    entity: &str,
    folder: &Path,
    root: &Path,
    home: Option<&Path>,
    journal: Option<&Path>,
    log_file: Option<&Path>,
) -> Vec<String> {
    let f = normal(folder);
    let shown = folder.display();
    let mut out = Vec::new();
    let fix = "a run replaces that folder whole; point the store's `path` at a folder of its own (for example `lake`)";
    if normal(root).starts_with(&f) {
        out.push(format!(
            "entity `{entity}` would be written to {shown}, which holds this project (hygge.yml, flows/); {fix}"
        ));
    }
    if let Some(h) = home.map(normal) {
        if h.starts_with(&f) {
            out.push(format!(
                "entity `{entity}` would be written to {shown}, which holds the data it reads ({}); {fix}",
                h.display()
            ));
        } else if f.starts_with(&h) {
            out.push(format!(
                "entity `{entity}` would be written to {shown}, inside the folder it reads ({}): the next run would read its own output; point the store's `path` at a folder outside it",
                h.display()
            ));
        }
    }
    if let Some(j) = journal.map(normal)
        && j.starts_with(&f)
    {
        out.push(format!(
            "entity `{entity}` would be written to {shown}, which holds the journal ({}); {fix}, or give the journal its own `path`",
            j.display()
        ));
    }
    if let Some(l) = log_file.map(normal)
        && l.starts_with(&f)
    {
        out.push(format!(
            "entity `{entity}` would be written to {shown}, which holds the log file ({}); {fix}, or set `options.log_file`",
            l.display()
        ));
    }
    out
}

/// `p` with `.` and `..` resolved and symbolic links in its existing part followed, so two
/// spellings of one folder compare equal.
fn normal(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut lexical = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                lexical.pop();
            }
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return lexical,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

/// Relative paths are relative to the project folder (where `hygge.yml` is), so `hygge go`
/// works from any folder inside the project. A URL (`s3://…`), and the path of a home
/// whose `provider` is a cloud (a key in its bucket), are left as they are.
fn resolve_path(side: &mut Node, root: &Path) {
    let cloud = side
        .get("provider")
        .and_then(Node::as_str)
        .is_some_and(|p| p != "local");
    if let Some(p) = side.get("path").and_then(Node::as_str).filter(|_| !cloud) {
        let path = Path::new(p);
        if path.is_relative() && !p.contains("://") {
            let loc = side.get("path").map(|n| n.loc.clone()).unwrap_or_default();
            let abs = root.join(path).display().to_string();
            side.set("path", Node::synthetic(Value::Str(abs), &loc));
        }
    }
}
