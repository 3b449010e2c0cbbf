//! Where a file home reads a file from: a local path, or an object in a cloud container
//! (read through [`RemoteObject`], which the cloud connector implements). The decoders take
//! an [`Input`] and never know which.
//!
//! A remote object is read with ranged requests, never whole into memory:
//!
//! - CSV and NDJSON stream it from the start ([`Input::open_read`]);
//! - Parquet reads its footer, then one row group's byte range per request when the
//!   decoder or the row-group copy first touches it ([`Chunks`]): the row group is held
//!   while its pages are read (as every Parquet reader of object storage does), so a file's
//!   pages cost one request per row group, not one per page. A row group larger than
//!   [`MAX_WINDOW`] is read a page at a time instead.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::{ChunkReader, Length};

use crate::error::FileError;

/// The largest byte range of a Parquet file held in memory at once for a remote read (one
/// row group's column chunks).
pub const MAX_WINDOW: u64 = 256 << 20;

/// An object in a cloud container, read in ranges. Its methods block: they are called on
/// the blocking pool, never on a runtime worker.
pub trait RemoteObject: Send + Sync + std::fmt::Debug {
    /// Its URL, for messages (never holds a secret).
    fn name(&self) -> &Path;
    /// Its length in bytes, as listed.
    fn size(&self) -> u64;
    /// The bytes in `range`.
    fn get_range(&self, range: Range<u64>) -> std::io::Result<Bytes>;
    /// Its bytes from `start` to the end, streamed.
    fn read_from(&self, start: u64) -> std::io::Result<Box<dyn Read + Send>>;
}

/// One file of an entity.
#[derive(Debug, Clone)]
pub enum Input {
    /// A local file.
    Local(PathBuf),
    /// An object in a cloud container.
    Remote(Arc<dyn RemoteObject>),
}

/// Bytes read from an [`Input`] from its start, buffered.
pub enum InputRead {
    /// A local file.
    File(BufReader<File>),
    /// A streamed object.
    Remote(BufReader<Box<dyn Read + Send>>),
}

impl Read for InputRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            InputRead::File(r) => r.read(buf),
            InputRead::Remote(r) => r.read(buf),
        }
    }
}

impl BufRead for InputRead {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            InputRead::File(r) => r.fill_buf(),
            InputRead::Remote(r) => r.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            InputRead::File(r) => r.consume(amt),
            InputRead::Remote(r) => r.consume(amt),
        }
    }
}

impl Input {
    /// The path or URL, for messages.
    pub fn name(&self) -> &Path {
        match self {
            Input::Local(p) => p,
            Input::Remote(o) => o.name(),
        }
    }

    /// Reads it from the start, through a buffer of `capacity` bytes.
    pub fn open_read(&self, capacity: usize) -> Result<InputRead, FileError> {
        match self {
            Input::Local(p) => {
                let file = File::open(p).map_err(|e| FileError::io("open", p, e))?;
                Ok(InputRead::File(BufReader::with_capacity(capacity, file)))
            }
            Input::Remote(o) => {
                let read = o
                    .read_from(0)
                    .map_err(|e| FileError::io("read", o.name(), e))?;
                Ok(InputRead::Remote(BufReader::with_capacity(capacity, read)))
            }
        }
    }

    /// Opens it for reading by ranges (Parquet).
    pub fn chunks(&self) -> Result<Chunks, FileError> {
        match self {
            Input::Local(p) => {
                let file = File::open(p).map_err(|e| FileError::io("open", p, e))?;
                let len = file
                    .metadata()
                    .map_err(|e| FileError::io("read the length of", p, e))?
                    .len();
                Ok(Chunks::File(Arc::new(file), len))
            }
            Input::Remote(o) => Ok(Chunks::Remote(Arc::new(Windows {
                object: o.clone(),
                windows: Mutex::new(Vec::new()),
                held: Mutex::new(None),
            }))),
        }
    }
}

/// A file opened for reading by ranges: Parquet's [`ChunkReader`] over a local file or a
/// remote object. Cheap to clone (the file or object is shared).
#[derive(Debug, Clone)]
pub enum Chunks {
    /// A local file and its length when opened.
    File(Arc<File>, u64),
    /// A remote object, read by windows.
    Remote(Arc<Windows>),
}

/// A remote object read by windows: the byte ranges of its row groups, each fetched whole
/// when first touched and held until another is needed.
#[derive(Debug)]
pub struct Windows {
    object: Arc<dyn RemoteObject>,
    /// Ranges fetched whole (sorted, disjoint).
    windows: Mutex<Vec<Range<u64>>>,
    /// The window held: its start and bytes.
    held: Mutex<Option<(u64, Bytes)>>,
}

impl Windows {
    /// The held bytes from `start` to the end of its window, fetching the window that holds
    /// `start` when it is not held; `None` when no window holds `start`.
    fn window_at(&self, start: u64) -> std::io::Result<Option<Bytes>> {
        {
            let held = self.held.lock().expect("not poisoned");
            if let Some((at, bytes)) = held.as_ref()
                && start >= *at
                && start < at + bytes.len() as u64
            {
                return Ok(Some(bytes.slice((start - at) as usize..)));
            }
        }
        let window = {
            let windows = self.windows.lock().expect("not poisoned");
            windows.iter().find(|w| w.contains(&start)).cloned()
        };
        let Some(window) = window else {
            return Ok(None);
        };
        let mut held = self.held.lock().expect("not poisoned");
        // Drop the old window before fetching the next: one is held at a time.
        *held = None;
        let bytes = self.object.get_range(window.clone())?;
        if bytes.len() as u64 != window.end - window.start {
            return Err(std::io::Error::other(format!(
                "asked for bytes {}..{} and got {} bytes (did the object change while it was read?)",
                window.start,
                window.end,
                bytes.len()
            )));
        }
        let out = bytes.slice((start - window.start) as usize..);
        *held = Some((window.start, bytes));
        Ok(Some(out))
    }
}

impl Chunks {
    /// Tells a remote read where the row groups of `metadata` lie, so that each is fetched
    /// in one request (one larger than [`MAX_WINDOW`] is read a page at a time).
    pub fn plan_windows(&self, metadata: &ParquetMetaData) {
        let Chunks::Remote(w) = self else {
            return;
        };
        let mut windows = Vec::new();
        for rg in metadata.row_groups() {
            let mut start = u64::MAX;
            let mut end = 0u64;
            let mut sane = true;
            for c in rg.columns() {
                // Not `byte_range()`: it panics on the negative offsets a crafted footer
                // may hold; such a row group is simply not a window.
                let s = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
                let len = c.compressed_size();
                sane &= s >= 0 && len >= 0;
                let (s, len) = (s.max(0) as u64, len.max(0) as u64);
                start = start.min(s);
                end = end.max(s.saturating_add(len));
            }
            if sane && start < end && end - start <= MAX_WINDOW && end <= w.object.size() {
                windows.push(start..end);
            }
        }
        windows.sort_by_key(|r| r.start);
        // Overlapping ranges (a crafted footer) are not windows.
        let disjoint = windows.windows(2).all(|p| p[0].end <= p[1].start);
        *w.windows.lock().expect("not poisoned") = if disjoint { windows } else { Vec::new() };
    }

    /// Whether it is a remote object (its row groups are held in memory while read).
    pub fn is_remote(&self) -> bool {
        matches!(self, Chunks::Remote(_))
    }
}

impl Length for Chunks {
    fn len(&self) -> u64 {
        match self {
            Chunks::File(_, len) => *len,
            Chunks::Remote(w) => w.object.size(),
        }
    }
}

/// A reader from an offset of [`Chunks`].
pub enum ChunkRead {
    /// A local file.
    File(BufReader<File>),
    /// Held bytes, then (past them) the object streamed.
    Remote(std::io::Chain<bytes::buf::Reader<Bytes>, LazyRead>),
}

impl Read for ChunkRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            ChunkRead::File(r) => r.read(buf),
            ChunkRead::Remote(r) => r.read(buf),
        }
    }
}

/// An object streamed from an offset, opened on the first read.
pub struct LazyRead {
    object: Arc<dyn RemoteObject>,
    start: u64,
    open: Option<Box<dyn Read + Send>>,
}

impl Read for LazyRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.start >= self.object.size() {
            return Ok(0);
        }
        if self.open.is_none() {
            self.open = Some(self.object.read_from(self.start)?);
        }
        self.open.as_mut().expect("opened").read(buf)
    }
}

impl ChunkReader for Chunks {
    type T = ChunkRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        match self {
            Chunks::File(f, _) => Ok(ChunkRead::File(f.as_ref().get_read(start)?)),
            Chunks::Remote(w) => {
                let held = w.window_at(start).map_err(io_error)?.unwrap_or_default();
                let rest = LazyRead {
                    object: w.object.clone(),
                    start: start + held.len() as u64,
                    open: None,
                };
                Ok(ChunkRead::Remote(held.reader().chain(rest)))
            }
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            Chunks::File(f, _) => f.as_ref().get_bytes(start, length),
            Chunks::Remote(w) => {
                if let Some(held) = w.window_at(start).map_err(io_error)?
                    && held.len() >= length
                {
                    return Ok(held.slice(..length));
                }
                let end = start.checked_add(length as u64).ok_or_else(|| {
                    parquet::errors::ParquetError::General(format!(
                        "bytes {start}+{length} lie past any object"
                    ))
                })?;
                w.object.get_range(start..end).map_err(io_error)
            }
        }
    }
}

fn io_error(e: std::io::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::External(Box::new(e))
}
