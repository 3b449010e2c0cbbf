//! Finding and reading a project: `hygge.yml`, `flows/<flow>/flow.yml`, `entities/*.yml`,
//! merged into one located tree per entity, exactly as the original merges them.

use hygge_connectors::registry::{self, Connections, Kind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::diag::Diagnostics;
use super::diag::likely_typo;
use super::fields::field_names;
use super::model::{
    EntityFile, EntitySettings, JournalConfig, ProjectFile, ProjectOptions, flow_keys,
    ignored_entity_keys, store_keys_from_entity,
};
use super::typed::{check_keys, check_keys_lenient, typed, typed_with};
use super::vars::{CliVar, apply, cli_loc};
use super::yaml::{self, Loc, Node, Value};

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder holding `hygge.yml`; relative paths in the project are relative to it.
    pub root: PathBuf,
    /// `hygge.yml`.
    pub file: PathBuf,
    /// The project's name.
    pub name: String,
    /// `options`.
    pub options: ProjectOptions,
    /// Named connections: (name, type).
    pub connections: Vec<(String, String)>,
    /// Named connections, typed (what homes and stores connect with).
    pub connection_configs: Connections,
    /// Where each named connection is (`connections.<name>` in `hygge.yml`).
    pub connection_locs: BTreeMap<String, Loc>,
    /// The project-wide `journal` (a flow's or entity's own wins).
    pub journal: Option<JournalConfig>,
    /// The flows, sorted by name.
    pub flows: Vec<FlowDef>,
}

/// One flow folder.
#[derive(Debug, Clone)]
pub struct FlowDef {
    /// The folder's name.
    pub name: String,
    /// Its entities (one implicit entity named after the flow when it has none).
    pub entities: Vec<EntityDef>,
}

/// One entity with its flow's configuration merged in.
#[derive(Debug, Clone)]
pub struct EntityDef {
    /// The base flow.
    pub flow: String,
    /// The entity (the flow's name for the implicit entity).
    pub entity: String,
    /// True for a flow without entities.
    pub implicit: bool,
    /// `<flow>_<entity>`, or the flow's name for the implicit entity.
    pub name: String,
    /// `home`, `store`, `run_type`, `full_drop`, `watermark`, `journal`, `queue_size`,
    /// `queue_memory_mb`, `timeout`, `options`, merged.
    pub config: Node,
    /// True when the entity set its own home `path` (then its name is not appended).
    pub home_path_from_entity: bool,
    /// Where the entity is defined.
    pub loc: Loc,
}

/// Finds `hygge.yml` in `start` or the nearest folder above it.
pub fn discover(start: &Path) -> Result<PathBuf, String> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    let mut searched = Vec::new();
    let mut cur = Some(start.as_path());
    while let Some(dir) = cur {
        let candidate = dir.join("hygge.yml");
        if candidate.is_file() {
            return Ok(candidate);
        }
        searched.push(candidate.display().to_string());
        cur = dir.parent();
    }
    Err(format!(
        "no hygge.yml found in {} or any folder above it.\n\nSearched:\n{}\n\nTo get started, run: hygge init <project_name>\nor point at a project with --project-dir",
        start.display(),
        searched
            .iter()
            .map(|s| format!("  - {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

fn read_yaml(
    path: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let loc = Loc {
                file: path.to_path_buf().into(),
                ..Loc::default()
            };
            diags.error(&loc, "", format!("cannot read file: {e}"));
            return None;
        }
    };
    match yaml::parse(&text, path) {
        Ok(mut node) => {
            let mut errors = Vec::new();
            yaml::expand_vars(&mut node, vars, &mut errors);
            for (loc, msg) in errors {
                diags.error(&loc, "", msg);
            }
            if matches!(node.value, Value::Null) {
                // An empty file is an empty mapping (an empty hygge.yml is a project named
                // after its folder, as in the original).
                node.value = Value::Map(vec![]);
            }
            if !matches!(node.value, Value::Map(_)) {
                diags.error(
                    &node.loc,
                    "",
                    format!("expected a mapping of keys, found {}", node.kind()),
                );
                return None;
            }
            Some(node)
        }
        Err((loc, msg)) => {
            diags.error(&loc, "", msg);
            None
        }
    }
}

/// Reads the whole project, collecting every problem.
pub fn load(
    hygge_yml: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
    cli_vars: &[CliVar],
    diags: &mut Diagnostics,
) -> Option<Project> {
    let root = hygge_yml
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let node = read_yaml(hygge_yml, vars, diags)?;
    let (clean, connection_configs, connection_locs) = check_project_keys(&node, diags);
    let file: ProjectFile = typed(&clean, "", diags).unwrap_or_default();
    check_log_file(&file, &clean, diags);
    let name = file.name.clone().unwrap_or_else(|| {
        root.canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "hygge".into())
    });
    let flows_dir = root.join(file.flows_dir.as_deref().unwrap_or("flows"));
    let flows = load_flows(&flows_dir, &node.loc, vars, cli_vars, diags);
    Some(Project {
        root,
        file: hygge_yml.to_path_buf(),
        name,
        connections: connection_configs.types.clone().into_iter().collect(),
        connection_configs,
        connection_locs,
        journal: file.journal.clone(),
        options: file.options.unwrap_or_default(),
        flows,
    })
}

/// `hygge.yml`'s keys checked (with `options`, `journal` and each connection's), the
/// mapping less what was reported, and the connections typed (each once) with where
/// each is written.
fn check_project_keys(
    node: &Node,
    diags: &mut Diagnostics,
) -> (Node, Connections, BTreeMap<String, Loc>) {
    let mut clean = check_keys(
        node,
        field_names::<ProjectFile>(),
        &[],
        "hygge.yml",
        "",
        diags,
    );
    for (key, keys) in [
        ("options", field_names::<ProjectOptions>()),
        ("journal", field_names::<JournalConfig>()),
    ] {
        if let Some(sub) = clean.get(key).filter(|n| matches!(n.value, Value::Map(_))) {
            let checked = check_keys(sub, keys, &[], key, key, diags);
            clean.set(key, checked);
        }
    }
    let mut connections = Connections::default();
    let mut locs = BTreeMap::new();
    if let Some(conns) = clean.get("connections").cloned() {
        let checked = check_connections(&conns, &mut connections, diags);
        for (name, c) in checked.entries().unwrap_or_default() {
            locs.insert(name.clone(), c.key_or_value_loc().clone());
        }
        clean.set("connections", checked);
    }
    if let Some(creds) = clean.get("credentials").cloned() {
        let checked = check_credentials(&creds, &mut connections, diags);
        clean.set("credentials", checked);
    }
    for (name, e) in connections.resolve_credentials() {
        let loc = locs.get(&name).cloned().unwrap_or_default();
        diags.error(&loc, format!("connections.{name}"), e);
    }
    (clean, connections, locs)
}

/// `options.log_file`: a path, or false.
fn check_log_file(file: &ProjectFile, clean: &Node, diags: &mut Diagnostics) {
    if let Some(v) = file.options.as_ref().and_then(|o| o.log_file.as_ref())
        && !(v.is_string() || *v == serde_json::Value::Bool(false))
    {
        let loc = clean
            .get("options")
            .and_then(|o| o.get("log_file"))
            .map(|n| n.loc.clone())
            .unwrap_or_default();
        diags.error(
            &loc,
            "options.log_file",
            "log_file must be a path, or false for no log file",
        );
    }
}

/// Every flow of `flows_dir` (a folder with a `flow.yml`), in name order.
fn load_flows(
    flows_dir: &Path,
    at: &Loc,
    vars: &dyn Fn(&str) -> Option<String>,
    cli_vars: &[CliVar],
    diags: &mut Diagnostics,
) -> Vec<FlowDef> {
    let mut flows = Vec::new();
    match std::fs::read_dir(flows_dir) {
        Err(e) => diags.error(
            at,
            "flows_dir",
            format!("cannot read the flows folder {}: {e}", flows_dir.display()),
        ),
        Ok(entries) => {
            let mut dirs: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join("flow.yml").is_file())
                .collect();
            dirs.sort();
            if dirs.is_empty() {
                diags.error(
                    at,
                    "flows_dir",
                    format!(
                        "no flows in {}: each flow is a folder with a flow.yml",
                        flows_dir.display()
                    ),
                );
            }
            let names: Vec<String> = dirs
                .iter()
                .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect();
            check_flow_vars(&names, cli_vars, diags);
            for dir in dirs {
                if let Some(flow) = load_flow(&dir, vars, cli_vars, diags) {
                    flows.push(flow);
                }
            }
        }
    }
    flows
}

/// As the original, a `--var` for a flow the project lacks changes nothing: it is said,
/// and a likely misspelling of a flow's name stays an error.
fn check_flow_vars(names: &[String], cli_vars: &[CliVar], diags: &mut Diagnostics) {
    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
    for v in cli_vars {
        if names.contains(&v.flow) {
            continue;
        }
        match likely_typo(&v.flow, &candidates) {
            Some(s) => diags.error(
                &cli_loc(),
                "",
                format!(
                    "--var `{}`: no flow named `{}`; did you mean `{s}`? Flows: {}",
                    v.shown(),
                    v.flow,
                    names.join(", ")
                ),
            ),
            None => diags.warn(
                &cli_loc(),
                "",
                format!(
                    "--var `{}` has no effect: this project has no flow named `{}` (the original hygge ignored it too). Flows: {}",
                    v.shown(),
                    v.flow,
                    names.join(", ")
                ),
            ),
        }
    }
}

fn load_flow(
    dir: &Path,
    vars: &dyn Fn(&str) -> Option<String>,
    cli_vars: &[CliVar],
    diags: &mut Diagnostics,
) -> Option<FlowDef> {
    let flow_name = dir.file_name()?.to_string_lossy().into_owned();
    let clean = read_flow_yml(dir, &flow_name, vars, cli_vars, diags)?;
    let mut base = clean.clone();
    for key in ["name", "entities", "defaults"] {
        base.remove(key);
    }

    let sources = entity_sources(dir, &clean, vars, diags);
    let entities = build_entities(&flow_name, &base, sources, diags);
    Some(FlowDef {
        name: flow_name,
        entities,
    })
}

/// `flow.yml` read, `--var`s applied, its keys, sides and run settings checked: the
/// mapping less what was reported, or `None` when it has errors.
fn read_flow_yml(
    dir: &Path,
    flow_name: &str,
    vars: &dyn Fn(&str) -> Option<String>,
    cli_vars: &[CliVar],
    diags: &mut Diagnostics,
) -> Option<Node> {
    let flow_yml = dir.join("flow.yml");
    let mut node = read_yaml(&flow_yml, vars, diags)?;
    for side in ["home", "store"] {
        if let Some(n) = node.get(side) {
            let normal = normalise_side(n);
            node.set(side, normal);
        }
    }
    for v in cli_vars.iter().filter(|v| v.flow == flow_name) {
        if let Err(msg) = apply(&mut node, v) {
            diags.error(&cli_loc(), "", msg);
        }
    }
    let mut allowed = flow_keys().to_vec();
    allowed.extend_from_slice(field_names::<EntitySettings>());
    let clean = check_keys(&node, &allowed, &[], "flow.yml", "", diags);
    let errors_before = diags.errors().count();
    for side in ["home", "store"] {
        if clean.get(side).is_none() {
            diags.error(
                &clean.loc,
                side,
                format!("missing field `{side}`: a flow needs a {side} (a path, or a mapping with `type`)"),
            );
        }
    }
    if let Some(n) = clean
        .get("entities")
        .filter(|n| !matches!(n.value, Value::Seq(_) | Value::Null))
    {
        diags.error(
            &n.loc,
            "entities",
            format!(
                "`entities` must be a list of names or mappings, found {}",
                n.kind()
            ),
        );
    }
    if let Some(n) = clean
        .get("defaults")
        .filter(|n| !matches!(n.value, Value::Map(_) | Value::Null))
    {
        diags.error(
            &n.loc,
            "defaults",
            format!("`defaults` must be a mapping, found {}", n.kind()),
        );
    }
    let mut settings = clean.clone();
    for key in flow_keys() {
        settings.remove(key);
    }
    typed::<EntitySettings>(&settings, "", diags)?;
    if diags.errors().count() > errors_before {
        return None;
    }
    Some(clean)
}

/// The flow's entities as written, before checking: from `entities/*.yml` (each over the
/// flow's `defaults`), which wins over the `entities:` list (as the original).
fn entity_sources(
    dir: &Path,
    clean: &Node,
    vars: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) -> Vec<Node> {
    let mut sources: Vec<Node> = Vec::new();
    let entities_dir = dir.join("entities");
    if entities_dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&entities_dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
        files.sort();
        let defaults = clean.get("defaults").cloned();
        for f in files {
            let Some(entity) = read_yaml(&f, vars, diags) else {
                continue;
            };
            // defaults first, the entity's keys over them (a shallow merge, as the original)
            let mut merged = match &defaults {
                Some(d) if matches!(d.value, Value::Map(_)) => {
                    let mut m = d.clone();
                    m.loc = entity.loc.clone();
                    m
                }
                _ => Node::synthetic(Value::Map(vec![]), &entity.loc),
            };
            for (k, v) in entity.entries().unwrap_or_default() {
                merged.set(k, v.clone());
            }
            sources.push(merged);
        }
    } else if let Some(Node {
        value: Value::Seq(items),
        ..
    }) = clean.get("entities")
    {
        for item in items {
            match &item.value {
                Value::Str(name) => {
                    let loc = item.loc.clone();
                    let mut m = Node::synthetic(Value::Map(vec![]), &loc);
                    m.set("name", Node::synthetic(Value::Str(name.clone()), &loc));
                    sources.push(m);
                }
                Value::Map(_) => sources.push(item.clone()),
                _ => diags.error(
                    &item.loc,
                    "entities",
                    format!(
                        "an entity is a name or a mapping with `name`, found {}",
                        item.kind()
                    ),
                ),
            }
        }
    }

    sources
}

/// Each entity checked, named and merged over the flow's `base` (home, store, settings);
/// a flow without entities is one entity named as the flow.
fn build_entities(
    flow_name: &str,
    base: &Node,
    sources: Vec<Node>,
    diags: &mut Diagnostics,
) -> Vec<EntityDef> {
    let mut entities = Vec::new();
    if sources.is_empty() {
        entities.push(EntityDef {
            flow: flow_name.to_string(),
            entity: flow_name.to_string(),
            implicit: true,
            name: flow_name.to_string(),
            config: base.clone(),
            home_path_from_entity: false,
            loc: base.loc.clone(),
        });
    }
    let mut seen: Vec<String> = Vec::new();
    // Keys the original never read in an entity (or the flow's `defaults`) are ignored,
    // with a warning, as it ignored them; a likely misspelling of a key stays an error.
    let mut entity_keys = field_names::<EntityFile>().to_vec();
    entity_keys.extend_from_slice(store_keys_from_entity());
    for entity_node in sources {
        let clean = check_keys_lenient(
            &entity_node,
            &entity_keys,
            ignored_entity_keys(),
            "an entity",
            "",
            diags,
        );
        let (_, own) = clean.partition(|k| store_keys_from_entity().contains(&k));
        let Some(entity) = typed::<EntityFile>(&own, "", diags) else {
            continue;
        };
        let name = entity.name.clone();
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            diags.error(
                &entity_node.loc,
                "name",
                format!("entity name {name:?} must be a plain name (it becomes a folder name)"),
            );
            continue;
        }
        if name.starts_with(".hygge") || name == "_hygge_state" {
            diags.error(
                &entity_node.loc,
                "name",
                format!(
                    "entity name {name:?} is reserved for hygge's own files and tables (staging, journal, checkpoints); rename the entity"
                ),
            );
            continue;
        }
        if seen.contains(&name) {
            diags.error(
                &entity_node.loc,
                "name",
                format!("entity `{name}` is defined twice in flow `{flow_name}`"),
            );
            continue;
        }
        seen.push(name.clone());
        let (config, home_path_from_entity) = merge_entity(base, &clean, diags);
        entities.push(EntityDef {
            flow: flow_name.to_string(),
            entity: name.clone(),
            implicit: false,
            name: format!("{flow_name}_{name}"),
            config,
            home_path_from_entity,
            loc: entity_node.loc.clone(),
        });
    }
    entities
}

/// Validates `connections`: each a mapping with a known `type` and that type's keys, typed
/// into `typed`. Returns the mapping with what was reported removed.
fn check_connections(conns: &Node, typed: &mut Connections, diags: &mut Diagnostics) -> Node {
    let section = Section {
        key: "connections",
        what: "connection",
        kinds: registry::CONNECTIONS,
        planned: registry::PLANNED_CONNECTIONS,
    };
    check_named(conns, &section, diags, |name, ty, cfg, clean| {
        typed.insert(name, ty, cfg, clean)
    })
}

/// Validates `credentials` as `connections`, typed into `typed.credentials`.
fn check_credentials(creds: &Node, typed: &mut Connections, diags: &mut Diagnostics) -> Node {
    let section = Section {
        key: "credentials",
        what: "credential",
        kinds: registry::CREDENTIALS,
        planned: registry::PLANNED_CREDENTIALS,
    };
    check_named(creds, &section, diags, |name, _, cfg, _| {
        typed.credentials.insert(name.to_string(), cfg);
    })
}

/// A `hygge.yml` map of named things typed by their `type`.
struct Section<C: 'static> {
    key: &'static str,
    what: &'static str,
    kinds: &'static [Kind<C>],
    planned: &'static [&'static str],
}

/// Each entry of `node` a mapping with a known `type` and that type's keys, typed and
/// handed to `keep` (name, type as written, typed, keys as written less `type`). Returns
/// the mapping with what was reported removed.
fn check_named<C>(
    node: &Node,
    section: &Section<C>,
    diags: &mut Diagnostics,
    mut keep: impl FnMut(&str, &str, C, Node),
) -> Node {
    let mut out = node.clone();
    let available = registry::names(section.kinds).join(" or ");
    for (name, c) in node.entries().unwrap_or_default() {
        let key = format!("{}.{name}", section.key);
        let ty = c
            .get("type")
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = match registry::kind(section.kinds, &ty) {
            Some(k) => k,
            None if ty.is_empty() => {
                diags.error(
                    c.key_or_value_loc(),
                    &key,
                    format!("a {} needs `type` ({available})", section.what),
                );
                out.remove(name);
                continue;
            }
            None => {
                let loc = c.get("type").map_or(&c.loc, |t| &t.loc);
                let why = if section.planned.contains(&ty.as_str()) {
                    format!(
                        "{} type `{ty}` is not available in this build of hygge",
                        section.what
                    )
                } else {
                    format!("unknown {} type `{ty}`", section.what)
                };
                diags.error(
                    loc,
                    format!("{key}.type"),
                    format!(
                        "{why}; available: {}",
                        registry::names(section.kinds).join(", ")
                    ),
                );
                out.remove(name);
                continue;
            }
        };
        let mut allowed = vec!["type"];
        allowed.extend((kind.keys)());
        let what = format!("a {ty} {}", section.what);
        let mut clean = check_keys(c, &allowed, &[], &what, &key, diags);
        clean.remove("type");
        match typed_with(&clean, &key, diags, kind.parse) {
            Some(cfg) => keep(name, &ty, cfg, clean),
            None => {
                out.remove(name);
            }
        }
    }
    out
}

/// A home/store given as a path string is `{type: parquet, path}`; a mapping without
/// `type` is parquet too (as the original).
fn normalise_side(n: &Node) -> Node {
    match &n.value {
        Value::Str(s) => {
            let mut m = Node::synthetic(Value::Map(vec![]), &n.loc);
            m.set(
                "type",
                Node::synthetic(Value::Str("parquet".into()), &n.loc),
            );
            m.set("path", Node::synthetic(Value::Str(s.clone()), &n.loc));
            m
        }
        Value::Map(_) if n.get("type").is_none() => {
            let mut m = n.clone();
            if let Value::Map(entries) = &mut m.value {
                entries.insert(
                    0,
                    (
                        "type".into(),
                        Node::synthetic(Value::Str("parquet".into()), &n.loc),
                    ),
                );
            }
            m
        }
        _ => n.clone(),
    }
}

/// The original's `_merge_entity_config`, on located trees.
fn merge_entity(base: &Node, entity: &Node, diags: &mut Diagnostics) -> (Node, bool) {
    let mut merged = base.clone();
    merged.loc = entity.loc.clone();
    for key in ["run_type", "full_drop", "watermark", "journal"] {
        if let Some(v) = entity.get(key) {
            merged.set(key, v.clone());
        }
    }
    let mut home_path_from_entity = false;
    if let Some(eh) = entity.get("home")
        && let Some(fh) = merged.get("home").cloned()
    {
        let mut h = fh.clone();
        for (k, v) in eh.entries().unwrap_or_default() {
            h.set(k, v.clone());
        }
        if let (Some(fp), Some(ep)) = (
            fh.get("path").and_then(Node::as_str),
            eh.get("path").and_then(Node::as_str),
        ) {
            // Joined as the original's PathHelper joins: a leading `/` of the entity's
            // part does not make it absolute (`data/source` + `/users`).
            let part = ep.trim_start_matches(['/', '\\']);
            let joined = Path::new(fp).join(part).display().to_string();
            let loc = eh.get("path").map(|n| n.loc.clone()).unwrap_or_default();
            if part != ep {
                diags.warn(
                    &loc,
                    "home.path",
                    format!(
                        "the entity's home `path` `{ep}` is joined to the flow's home `path`, as the original hygge joins them: it reads {joined} (a leading `/` does not make it absolute here)"
                    ),
                );
            }
            h.set("path", Node::synthetic(Value::Str(joined), &loc));
        }
        home_path_from_entity = eh.get("path").is_some();
        merged.set("home", h);
    }
    if let Some(es) = entity.get("store")
        && let Some(fs) = merged.get("store").cloned()
    {
        let mut s = fs;
        for (k, v) in es.entries().unwrap_or_default() {
            s.set(k, v.clone());
        }
        merged.set("store", s);
    }
    if let Some(mut store) = merged.get("store").cloned() {
        for key in store_keys_from_entity() {
            if let Some(v) = entity.get(key) {
                store.set(key, v.clone());
            }
        }
        merged.set("store", store);
    }
    (merged, home_path_from_entity)
}
