//! Checkpoints: what a run commits *with* its data, so that the next run of the entity
//! starts exactly where the published data ends.
//!
//! A store writes the checkpoint in the same atomic step that publishes the data (a file
//! inside the folder it swaps in; a row updated in the same transaction), and hands it back,
//! read under the entity's lock, when the next run opens the entity. So a crash between
//! publishing and journaling, or two runs that overlap, can neither skip nor repeat a row:
//! the position is never behind or ahead of the data it describes. The journal remains the
//! record of every run, and the fallback for destinations written before checkpoints
//! existed.
//!
//! The boundary: with the inclusive boundary (the default), the next run reads rows whose
//! watermark is greater than **or equal to** the stored one, less the rows already written
//! at it. Which rows those were is kept as [`BoundaryKeys`]: the primary keys themselves
//! while there are few, else a 128-bit fingerprint of each (16 bytes a key, whatever the
//! key's width), and past [`MAX_BOUNDARY_KEYS`] rows at one value nothing but their count
//! (the next run then reads strictly after that value, and says so).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::RunType;
use crate::watermark::Watermark;

/// The checkpoint format written now.
pub const VERSION: u32 = 1;

/// Keys listed as text (in checkpoints, reports and the journal) up to this many rows at the
/// watermark; beyond, only fingerprints are kept.
pub const TEXT_KEYS: usize = 1_000;

/// Rows at one watermark value whose fingerprints are kept (16 MiB). Beyond, the boundary
/// falls back to strict for that value, with a warning.
pub const MAX_BOUNDARY_KEYS: usize = 1 << 20;

/// What a run committed with its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version ([`VERSION`]).
    pub hygge_checkpoint: u32,
    /// The run that published (the coordinator's run id).
    pub run_id: String,
    /// The base flow.
    pub flow: String,
    /// The entity.
    pub entity: String,
    /// How the run published.
    pub run_type: RunType,
    /// When the entity run started (the journal's `start_time`).
    pub started_at: DateTime<Utc>,
    /// When it published.
    pub published_at: DateTime<Utc>,
    /// Rows the run read and published.
    pub rows: u64,
    /// Where the data now ends, for entities with a watermark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<CheckpointWatermark>,
    /// The runs that published here before this one, newest first (at most
    /// [`PREVIOUS_RUNS`], without their boundary keys): the journal records any of them it
    /// lacks, so publishes whose entries could not be written several runs in a row are all
    /// recorded by the next run that can.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<Checkpoint>,
}

/// Earlier runs a checkpoint carries.
pub const PREVIOUS_RUNS: usize = 16;

/// The watermark part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointWatermark {
    /// The watermark column.
    pub column: String,
    /// The primary key column.
    pub primary_key: String,
    /// Its exact Arrow type (`Watermark::parse`).
    pub arrow_type: String,
    /// Its value, exactly.
    pub exact: String,
    /// Its value as people read it.
    pub display: String,
    /// The rows written at that value (inclusive boundary); absent: the next run reads
    /// strictly after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boundary: Option<BoundaryState>,
}

/// [`BoundaryKeys`] as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoundaryState {
    /// Rows written at the watermark.
    pub rows: u64,
    /// Their primary keys as text, when they are all listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// Otherwise the fingerprints of their keys: sorted 16-byte big-endian values, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<String>,
}

impl Checkpoint {
    /// Parses a checkpoint a store handed back; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let c: Checkpoint =
            serde_json::from_str(text).map_err(|e| format!("unreadable checkpoint: {e}"))?;
        if c.hygge_checkpoint > VERSION {
            return Err(format!(
                "the checkpoint was written by a newer hygge (format {}, this one reads up to {VERSION})",
                c.hygge_checkpoint
            ));
        }
        Ok(c)
    }

    /// The chain of runs a new checkpoint carries when it follows `self`: `self` (without
    /// its keys and chain) and its own chain, newest first, at most [`PREVIOUS_RUNS`].
    pub fn chain(&self) -> Vec<Checkpoint> {
        let mut me = self.clone();
        me.previous = Vec::new();
        if let Some(w) = &mut me.watermark {
            w.boundary = None;
        }
        let mut out = vec![me];
        out.extend(self.previous.iter().cloned());
        out.truncate(PREVIOUS_RUNS);
        out
    }

    /// The checkpoint as JSON text (what stores keep).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a checkpoint serialises")
    }

    /// The position the next incremental run starts from, if this checkpoint has one for
    /// `column` and `primary_key`. `Err` when it was written for another watermark.
    pub fn position(&self, column: &str, primary_key: &str) -> Result<Option<Position>, String> {
        let Some(w) = &self.watermark else {
            return Ok(None);
        };
        if w.column != column || w.primary_key != primary_key {
            return Err(format!(
                "the destination's checkpoint is for watermark_column `{}` and primary_key `{}`, the project now says `{column}` and `{primary_key}`",
                w.column, w.primary_key
            ));
        }
        let after = Watermark::parse(column, &w.arrow_type, &w.exact)?;
        let boundary = match &w.boundary {
            None => None,
            Some(b) => Some(BoundaryKeys::from_state(b)?),
        };
        Ok(Some(Position { after, boundary }))
    }
}

/// Where an incremental read starts.
#[derive(Debug, Clone)]
pub struct Position {
    /// The watermark reached so far.
    pub after: Watermark,
    /// `None`: read strictly after `after`. `Some`: read at or after it, less these rows
    /// (when their keys were too many to keep, strictly after it).
    pub boundary: Option<BoundaryKeys>,
}

impl Position {
    /// Whether rows equal to `after` are read (and de-duplicated by key).
    pub fn inclusive(&self) -> bool {
        self.boundary.as_ref().is_some_and(|b| !b.overflowed())
    }
}

/// The primary keys of the rows written at one watermark value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoundaryKeys {
    /// Rows at the value.
    rows: u64,
    /// Their keys as text, while at most [`TEXT_KEYS`].
    texts: Vec<String>,
    /// Fingerprints of every key, while at most [`MAX_BOUNDARY_KEYS`]; sorted once
    /// [`BoundaryKeys::seal`]ed.
    hashes: Vec<u128>,
    sealed: bool,
    /// More rows than could be kept: only `rows` is known.
    overflow: bool,
}

/// The fingerprint of a key's text (XXH3-128: stable across versions and machines).
pub fn fingerprint(key: &str) -> u128 {
    twox_hash::XxHash3_128::oneshot(key.as_bytes())
}

impl BoundaryKeys {
    /// No rows yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys listed as text (the journal's and the original's form).
    pub fn from_texts(keys: impl IntoIterator<Item = String>) -> Self {
        let mut b = Self::new();
        for k in keys {
            b.insert(&k);
        }
        b.seal();
        b
    }

    fn from_state(s: &BoundaryState) -> Result<Self, String> {
        if let Some(keys) = &s.keys {
            let mut b = Self::from_texts(keys.iter().cloned());
            b.rows = b.rows.max(s.rows);
            return Ok(b);
        }
        let Some(h) = &s.hashes else {
            return Ok(BoundaryKeys {
                rows: s.rows,
                overflow: true,
                sealed: true,
                ..Default::default()
            });
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(h)
            .map_err(|e| format!("checkpoint boundary fingerprints: {e}"))?;
        if bytes.len() % 16 != 0 {
            return Err("checkpoint boundary fingerprints: not 16-byte values".into());
        }
        let mut hashes: Vec<u128> = bytes
            .chunks_exact(16)
            .map(|c| u128::from_be_bytes(c.try_into().expect("16 bytes")))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        Ok(BoundaryKeys {
            rows: s.rows,
            texts: vec![],
            hashes,
            sealed: true,
            overflow: false,
        })
    }

    /// As stored in a checkpoint.
    pub fn state(&self) -> BoundaryState {
        let mut me = self.clone();
        me.seal();
        let listed = !me.overflow && me.texts.len() as u64 == me.rows;
        BoundaryState {
            rows: me.rows,
            keys: listed.then(|| me.texts.clone()),
            hashes: (!listed && !me.overflow).then(|| {
                let mut bytes = Vec::with_capacity(me.hashes.len() * 16);
                for h in &me.hashes {
                    bytes.extend_from_slice(&h.to_be_bytes());
                }
                base64::engine::general_purpose::STANDARD.encode(bytes)
            }),
        }
    }

    /// Adds the key of one more row at the value.
    pub fn insert(&mut self, key: &str) {
        self.rows += 1;
        if self.overflow {
            return;
        }
        if self.hashes.len() >= MAX_BOUNDARY_KEYS {
            self.give_up();
            return;
        }
        if self.texts.len() < TEXT_KEYS {
            self.texts.push(key.to_string());
        }
        self.hashes.push(fingerprint(key));
        self.sealed = false;
    }

    /// Adds every row of `other` (keys at the same value).
    pub fn merge(&mut self, other: BoundaryKeys) {
        self.rows += other.rows;
        if self.overflow || other.overflow {
            self.give_up();
            return;
        }
        let room = TEXT_KEYS - self.texts.len();
        self.texts.extend(other.texts.into_iter().take(room));
        self.hashes.extend(other.hashes);
        self.sealed = false;
        if self.hashes.len() > MAX_BOUNDARY_KEYS {
            self.give_up();
        }
    }

    /// Too many rows at one value: only their count is kept.
    fn give_up(&mut self) {
        self.overflow = true;
        self.sealed = true;
        self.hashes = Vec::new();
        self.texts = Vec::new();
    }

    /// Sorts the fingerprints for lookups.
    pub fn seal(&mut self) {
        if !self.sealed {
            self.hashes.sort_unstable();
            self.hashes.dedup();
            self.sealed = true;
        }
    }

    /// Whether a row with this key was written at the value (call [`BoundaryKeys::seal`]
    /// first).
    pub fn contains(&self, key: &str) -> bool {
        debug_assert!(self.sealed, "seal() before contains()");
        self.hashes.binary_search(&fingerprint(key)).is_ok()
    }

    /// Rows at the value.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// More rows than [`MAX_BOUNDARY_KEYS`]: their keys were not kept.
    pub fn overflowed(&self) -> bool {
        self.overflow
    }

    /// Every key as text, when all are listed (at most [`TEXT_KEYS`]).
    pub fn texts(&self) -> Option<&[String]> {
        (!self.overflow && self.texts.len() as u64 == self.rows).then_some(&self.texts[..])
    }

    /// Bytes held.
    pub fn memory(&self) -> usize {
        self.hashes.capacity() * 16 + self.texts.iter().map(|t| t.len() + 24).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_keys_are_listed_many_are_fingerprinted_too_many_are_counted() {
        let few = BoundaryKeys::from_texts(["a", "b"].map(String::from));
        let s = few.state();
        assert_eq!(s.keys.as_deref(), Some(&["a".to_string(), "b".into()][..]));
        assert!(s.hashes.is_none());
        let back = BoundaryKeys::from_state(&s).unwrap();
        assert!(back.contains("a") && back.contains("b") && !back.contains("c"));

        let many = BoundaryKeys::from_texts((0..5_000).map(|i| format!("k{i}")));
        let s = many.state();
        assert!(s.keys.is_none());
        assert_eq!(s.rows, 5_000);
        let back = BoundaryKeys::from_state(&s).unwrap();
        assert!(back.contains("k0") && back.contains("k4999") && !back.contains("k5000"));
        assert!(!back.overflowed());

        let mut huge = BoundaryKeys::new();
        for i in 0..MAX_BOUNDARY_KEYS + 1 {
            huge.insert(&i.to_string());
        }
        assert!(huge.overflowed());
        assert_eq!(huge.memory(), 0);
        let s = huge.state();
        assert_eq!((s.keys.is_none(), s.hashes.is_none()), (true, true));
        assert!(BoundaryKeys::from_state(&s).unwrap().overflowed());
    }

    #[test]
    fn fingerprints_are_stable() {
        // A stored checkpoint must mean the same thing to every later version.
        assert_eq!(
            fingerprint("42"),
            twox_hash::XxHash3_128::oneshot(b"42"),
            "XXH3-128 of the key's text"
        );
        assert_ne!(fingerprint("42"), fingerprint("43"));
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_another_watermark() {
        let c = Checkpoint {
            hygge_checkpoint: VERSION,
            run_id: "r1".into(),
            flow: "f".into(),
            entity: "e".into(),
            run_type: RunType::Incremental,
            started_at: Utc::now(),
            published_at: Utc::now(),
            rows: 3,
            watermark: Some(CheckpointWatermark {
                column: "w".into(),
                primary_key: "id".into(),
                arrow_type: "Int64".into(),
                exact: "9".into(),
                display: "9".into(),
                boundary: Some(BoundaryKeys::from_texts(["7".to_string()]).state()),
            }),
            previous: vec![],
        };
        let back = Checkpoint::parse(&c.to_json()).unwrap();
        assert_eq!(back, c);
        let p = back.position("w", "id").unwrap().unwrap();
        assert_eq!(p.after.exact(), "9");
        assert!(p.inclusive());
        assert!(p.boundary.unwrap().contains("7"));
        let err = back.position("w2", "id").unwrap_err();
        assert!(err.contains("watermark_column `w`"), "{err}");
        assert!(Checkpoint::parse("{").is_err());
    }
}
