//! `store: {type: open_mirroring, ...}`: the original hygge's keys, validated purely.

use std::time::Duration;

use serde::Deserialize;

use crate::cloud::CloudSettings;
use crate::cloud::config::{AzureKeys, CloudKeys, FileOutput, clean_path, schema_key};
use crate::format::WriteOptions;

/// How Fabric finds new files (`_metadata.json` `fileDetectionStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileDetection {
    /// `LastUpdateTimeFileDetection`: files named `<UTC time>_<NNNNNN>.parquet`, processed
    /// in their storage time order (the original's default).
    #[default]
    Timestamp,
    /// Fabric's default: files named with exactly 20 digits, contiguous from
    /// `starting_sequence`.
    Sequential,
}

/// `key_columns`: one name or a list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum KeyColumns {
    /// `key_columns: Id`.
    One(String),
    /// `key_columns: [Id, Region]`.
    Many(Vec<String>),
}

/// `store: {type: open_mirroring, account_url, filesystem, mirror_name, key_columns,
/// row_marker, ...}`: a Microsoft Fabric mirrored database's landing zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenMirroringStoreConfig {
    /// The mirrored database (its GUID in the landing zone's URL).
    pub mirror_name: String,
    /// The table's key (`_metadata.json` `keyColumns`); on the flow's store or per entity.
    #[serde(default)]
    pub key_columns: Option<KeyColumns>,
    /// `__rowMarker__` of every row: 0 insert, 1 update, 2 delete, 4 upsert. Required:
    /// each has consequences.
    #[serde(default)]
    pub row_marker: Option<i64>,
    /// `timestamp` (default) or `sequential`.
    #[serde(default)]
    pub file_detection: FileDetection,
    /// The first sequence number of a new table (default 1).
    #[serde(default)]
    pub starting_sequence: Option<u64>,
    /// The table folder; default `Files/LandingZone/{entity}/` (or with the schema) in
    /// the mirrored database.
    #[serde(default)]
    pub path: Option<String>,
    /// The schema: `Files/LandingZone/<schema>.schema/{entity}/`.
    #[serde(default)]
    pub schema: Option<String>,
    /// Same as `schema` (the original's other spelling).
    #[serde(default)]
    pub schema_name: Option<String>,
    /// `_partnerEvents.json` `partnerName` (the file is written only with it).
    #[serde(default)]
    pub partner_name: Option<String>,
    /// `_partnerEvents.json` `sourceInfo.sourceType`.
    #[serde(default)]
    pub source_type: Option<String>,
    /// `_partnerEvents.json` `sourceInfo.sourceVersion`.
    #[serde(default)]
    pub source_version: Option<String>,
    /// Seconds to wait, in a full_drop rebuild, between deleting the table folder and
    /// publishing the new one, so Fabric drops the table (default 120, at most 900).
    #[serde(default)]
    pub folder_deletion_wait_seconds: Option<f64>,
    /// Accepted from the original's entity keys; unused.
    #[serde(default)]
    pub deletion_query_timeout: Option<serde_json::Value>,
    /// Mirror the journal as the table `__hygge.<journal_table_name>`.
    #[serde(default)]
    pub mirror_journal: Option<bool>,
    /// The mirrored journal's table name (default `__hygge_journal`).
    #[serde(default)]
    pub journal_table_name: Option<String>,
    /// The account and how to sign in.
    #[serde(skip)]
    pub azure: AzureKeys,
    /// Files: compression, rows per file, polish.
    #[serde(skip)]
    pub output: FileOutput,
}

/// The default `folder_deletion_wait_seconds`.
pub const DEFAULT_WAIT_SECS: f64 = 120.0;
/// The largest `folder_deletion_wait_seconds`.
pub const MAX_WAIT_SECS: f64 = 900.0;
/// Where Fabric reads a mirrored database's tables.
pub const LANDING_ZONE: &str = "Files/LandingZone";

impl CloudKeys for OpenMirroringStoreConfig {
    const KIND: &'static str = "open_mirroring";
    type Account = AzureKeys;
    fn set(&mut self, account: AzureKeys, output: FileOutput) {
        (self.azure, self.output) = (account, output);
    }
    fn account(&self) -> &AzureKeys {
        &self.azure
    }
    fn output(&self) -> &FileOutput {
        &self.output
    }

    /// `<mirror_name>/Files/LandingZone/[<schema>.schema/]{entity}`, or `path` (under
    /// `<mirror_name>/` unless it starts with it), which must be in the landing zone.
    fn entity_path(&self) -> Result<String, String> {
        let mirror = self.mirror_name.trim().trim_matches('/');
        if mirror.is_empty() || mirror.contains('/') {
            return Err(format!(
                "mirror_name: {:?} is not a mirrored database's id (the GUID after the workspace in its landing zone URL)",
                self.mirror_name
            ));
        }
        let schema = schema_key(&self.schema, &self.schema_name)?;
        let path = match (&self.path, schema) {
            (Some(_), Some(_)) => {
                return Err(
                    "schema: an open_mirroring store with `path` takes no schema; put it in the path (`Files/LandingZone/<schema>.schema/{entity}`) or remove `path`".into(),
                );
            }
            (Some(p), None) => {
                let p = clean_path("path", p)?;
                match p.strip_prefix(&format!("{mirror}/")) {
                    Some(_) => p,
                    None => format!("{mirror}/{p}"),
                }
            }
            (None, Some(s)) if s.is_empty() || s.contains('/') => {
                return Err(format!("schema: {s:?} is not a schema name"));
            }
            (None, Some(s)) => format!("{mirror}/{LANDING_ZONE}/{s}.schema/{{entity}}"),
            (None, None) => format!("{mirror}/{LANDING_ZONE}/{{entity}}"),
        };
        let path = clean_path("path", &path)?;
        let rest = path.strip_prefix(&format!("{mirror}/{LANDING_ZONE}/"));
        match rest {
            Some(r) if !r.split('/').any(|p| p.starts_with('_') || p.is_empty()) => Ok(path),
            _ => Err(format!(
                "path: {path} is not a table folder of the landing zone ({mirror}/{LANDING_ZONE}/<table> or <schema>.schema/<table>), the only place Fabric reads"
            )),
        }
    }
}

/// A validated open_mirroring store.
#[derive(Debug, Clone)]
pub struct OpenMirroringSettings {
    /// The account, the table folder path (`{entity}`), Parquet options, rows per file.
    pub cloud: CloudSettings,
    /// The mirrored database.
    pub mirror: String,
    /// `keyColumns`, as configured (renamed by `polish.columns` when the run starts).
    pub key_columns: Vec<String>,
    /// `__rowMarker__` for rows that carry none.
    pub row_marker: i32,
    /// File names.
    pub detection: FileDetection,
    /// The first sequence number of a new table.
    pub starting_sequence: u64,
    /// `_partnerEvents.json`, when `partner_name` is set.
    pub partner: Option<serde_json::Value>,
    /// A rebuild's wait between deleting the table folder and publishing the new one.
    pub wait: Duration,
    /// Last-mile transforms, before the landing zone's columns are added.
    pub polish: Option<crate::polish::Polish>,
    /// `mirror_journal`, and the journal table's name.
    pub mirror_journal: Option<String>,
}

impl OpenMirroringStoreConfig {
    /// Checks the keys; builds nothing.
    pub fn validate_in(
        &self,
        entity_folder: bool,
        credentials: &crate::credentials::Credentials,
    ) -> Result<OpenMirroringSettings, String> {
        let o = &self.output;
        if o.file_pattern.is_some() {
            return Err("file_pattern: the landing zone names files itself (`file_detection: timestamp` or `sequential`); remove file_pattern".into());
        }
        if o.format != crate::format::FileFormat::Parquet {
            return Err(format!(
                "format: an open_mirroring store writes Parquet, not {}",
                o.format.name()
            ));
        }
        if o.copy_row_groups == Some(true) {
            return Err("copy_row_groups: an open_mirroring store adds `__LastLoadedAt__` and `__rowMarker__` to every row, so it cannot copy a source's row groups; remove copy_row_groups".into());
        }
        let mut cloud = CloudKeys::validate_in(self, entity_folder, credentials)?;
        let polish = cloud.polish.take();
        if let WriteOptions::Parquet(p) = &mut cloud.write {
            p.copy_row_groups = false;
        }
        cloud.pattern = crate::files::store::FilePattern::parse("{sequence:020d}.parquet")?;
        let key_columns = match &self.key_columns {
            None => {
                return Err("key_columns: required by Open Mirroring (`_metadata.json` keyColumns); set it on the store, or per entity (`store: {key_columns: [...]}`)".into());
            }
            Some(KeyColumns::One(k)) => vec![k.clone()],
            Some(KeyColumns::Many(ks)) => ks.clone(),
        };
        if key_columns.is_empty() || key_columns.iter().any(|k| k.trim().is_empty()) {
            return Err(
                "key_columns: give the table's key column names (none may be empty)".into(),
            );
        }
        let row_marker = match self.row_marker {
            None => {
                return Err("row_marker: required, with no default on purpose: 0 (insert), 1 (update), 2 (delete) or 4 (upsert); each has consequences".into());
            }
            Some(m @ (0 | 1 | 2 | 4)) => m as i32,
            Some(m) => {
                return Err(format!(
                    "row_marker: {m} is not a row marker; give 0 (insert), 1 (update), 2 (delete) or 4 (upsert)"
                ));
            }
        };
        let starting_sequence = self.starting_sequence.unwrap_or(1);
        if starting_sequence == 0 {
            return Err("starting_sequence: sequence numbers start at 1 or more".into());
        }
        let wait = self
            .folder_deletion_wait_seconds
            .unwrap_or(DEFAULT_WAIT_SECS);
        if !(0.0..=MAX_WAIT_SECS).contains(&wait) {
            return Err(format!(
                "folder_deletion_wait_seconds: {wait} is not between 0 and {MAX_WAIT_SECS}"
            ));
        }
        if self.partner_name.is_none()
            && (self.source_type.is_some() || self.source_version.is_some())
        {
            return Err("source_type: `_partnerEvents.json` is written only with partner_name; add partner_name".into());
        }
        let partner = self.partner_name.as_ref().map(|name| {
            let mut info = serde_json::Map::new();
            if let Some(t) = &self.source_type {
                info.insert("sourceType".into(), t.clone().into());
            }
            if let Some(v) = &self.source_version {
                info.insert("sourceVersion".into(), v.clone().into());
            }
            serde_json::json!({"partnerName": name, "sourceInfo": info})
        });
        let mirror_journal = match self.mirror_journal {
            Some(true) => {
                let t = self
                    .journal_table_name
                    .as_deref()
                    .unwrap_or("__hygge_journal");
                if t.is_empty() || t.contains(['/', '.']) {
                    return Err(format!("journal_table_name: {t:?} is not a table name"));
                }
                Some(t.to_string())
            }
            _ => None,
        };
        Ok(OpenMirroringSettings {
            cloud,
            mirror: self.mirror_name.trim().trim_matches('/').to_string(),
            key_columns,
            row_marker,
            detection: self.file_detection,
            starting_sequence,
            partner,
            wait: Duration::from_secs_f64(wait),
            polish,
            mirror_journal,
        })
    }
}
