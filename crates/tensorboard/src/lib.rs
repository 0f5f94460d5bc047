//! TensorBoard event files of scalars, written as TensorBoard's own readers expect them.
//!
//! An event file is a sequence of TFRecords, each `length (u64 LE) · masked CRC-32C of the
//! length · data · masked CRC-32C of the data`, the data being one `Event` protobuf
//! (`tensorflow/core/util/event.proto`). The messages below hold the few fields of `Event`,
//! `Summary` and `SessionLog` that scalars need, under TensorFlow's field numbers.
//!
//! Every file starts with `file_version: "brain.Event:2"`. From that version on, TensorBoard
//! takes a `SessionLog` START at step `s` for a restart and drops what the run's earlier files
//! hold at steps `≥ s` ([`EventWriter::start`]): a run resumed from a checkpoint shows each
//! step once, with the values of the process that wrote it last.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

const PREFIX: &str = "events.out.tfevents.";
const FILE_VERSION: &str = "brain.Event:2";

#[derive(Clone, PartialEq, Message)]
struct Event {
    #[prost(double, tag = "1")]
    wall_time: f64,
    #[prost(int64, tag = "2")]
    step: i64,
    #[prost(oneof = "What", tags = "3, 5, 7")]
    what: Option<What>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum What {
    #[prost(string, tag = "3")]
    FileVersion(String),
    #[prost(message, tag = "5")]
    Summary(Summary),
    #[prost(message, tag = "7")]
    SessionLog(SessionLog),
}

#[derive(Clone, PartialEq, Message)]
struct Summary {
    #[prost(message, repeated, tag = "1")]
    value: Vec<Value>,
}

#[derive(Clone, PartialEq, Message)]
struct Value {
    #[prost(string, tag = "1")]
    tag: String,
    // A oneof in TensorFlow's message: kept one here so that 0.0 is written, not omitted.
    #[prost(oneof = "Kind", tags = "2")]
    kind: Option<Kind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Kind {
    #[prost(float, tag = "2")]
    SimpleValue(f32),
}

#[derive(Clone, PartialEq, Message)]
struct SessionLog {
    /// `SessionLog.SessionStatus`.
    #[prost(int32, tag = "1")]
    status: i32,
}

const SESSION_START: i32 = 1;

/// Appends events to one new file of a TensorBoard run folder.
pub struct EventWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl EventWriter {
    /// A new event file in `dir` (created if missing). TensorBoard reads a run's files in the
    /// order of their names, which start with a time in seconds: the new name is made later
    /// than any already there, so that files of two processes in one second read in order.
    pub fn create(dir: &Path) -> io::Result<EventWriter> {
        std::fs::create_dir_all(dir).map_err(|e| at(dir, "cannot create", e))?;
        let latest = std::fs::read_dir(dir)
            .map_err(|e| at(dir, "cannot list", e))?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_prefix(PREFIX)?.split('.').next()?.parse::<u64>().ok())
            .max();
        let now = unix_time().floor() as u64;
        let secs = latest.map_or(now, |l| now.max(l + 1));
        let path = dir.join(format!("{PREFIX}{secs}.iamm-pipe.{}", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| at(&path, "cannot create", e))?;
        let mut writer = EventWriter { out: BufWriter::new(file), path };
        writer.write(0, What::FileVersion(FILE_VERSION.into()))?;
        writer.flush()?;
        Ok(writer)
    }

    /// Marks a (re)start at `step`: TensorBoard drops the values that the run's earlier files
    /// hold at `step` and after (what a killed process wrote past its last checkpoint).
    pub fn start(&mut self, step: u64) -> io::Result<()> {
        self.write(step, What::SessionLog(SessionLog { status: SESSION_START }))?;
        self.flush()
    }

    /// Scalars (stored as 32-bit floats, as TensorBoard's `simple_value`) at `step`, on disk
    /// when this returns so that a running TensorBoard shows them.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> io::Result<()> {
        let value = values
            .iter()
            .map(|(tag, v)| Value { tag: (*tag).to_string(), kind: Some(Kind::SimpleValue(*v as f32)) })
            .collect();
        self.write(step, What::Summary(Summary { value }))?;
        self.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: u64, what: What) -> io::Result<()> {
        let step = i64::try_from(step).map_err(|_| at(&self.path, "step out of range", io::ErrorKind::InvalidInput.into()))?;
        let data = Event { wall_time: unix_time(), step, what: Some(what) }.encode_to_vec();
        let len = (data.len() as u64).to_le_bytes();
        let mut record = Vec::with_capacity(data.len() + 16);
        record.extend_from_slice(&len);
        record.extend_from_slice(&masked_crc(&len).to_le_bytes());
        record.extend_from_slice(&data);
        record.extend_from_slice(&masked_crc(&data).to_le_bytes());
        self.out.write_all(&record).map_err(|e| at(&self.path, "cannot write", e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush().map_err(|e| at(&self.path, "cannot write", e))
    }
}

/// TFRecord's checksum: the CRC-32C rotated right by 15 bits plus a constant (TensorFlow's
/// `crc32c::Mask`, so that checksums of data holding checksums stay independent).
pub fn masked_crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

fn unix_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

fn at(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {what}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The records of an event file, checksums checked.
    fn read(path: &Path) -> Vec<Event> {
        let bytes = std::fs::read(path).unwrap();
        let mut rest = &bytes[..];
        let mut events = vec![];
        while !rest.is_empty() {
            let (len, tail) = rest.split_at(8);
            assert_eq!(u32::from_le_bytes(tail[..4].try_into().unwrap()), masked_crc(len));
            let n = u64::from_le_bytes(len.try_into().unwrap()) as usize;
            let data = &tail[4..4 + n];
            assert_eq!(u32::from_le_bytes(tail[4 + n..8 + n].try_into().unwrap()), masked_crc(data));
            events.push(Event::decode(data).unwrap());
            rest = &tail[8 + n..];
        }
        events
    }

    #[test]
    fn crc32c_is_the_castagnoli_checksum_masked_as_tensorflow_does() {
        // CRC-32C's check value (RFC 3720), then TensorFlow's mask of it worked out by hand:
        // ((0xe3069283 >> 15) | (0xe3069283 << 17)) + 0xa282ead8, modulo 2^32.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
    }

    #[test]
    fn a_file_holds_its_version_then_the_events_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.start(11).unwrap();
        w.scalars(11, &[("train/loss", 2.5), ("train/lr", 0.0)]).unwrap();
        let events = read(w.path());
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].what, Some(What::FileVersion(FILE_VERSION.into())));
        assert_eq!((events[1].step, &events[1].what), (11, &Some(What::SessionLog(SessionLog { status: SESSION_START }))));
        let Some(What::Summary(s)) = &events[2].what else { panic!("a summary: {:?}", events[2]) };
        assert_eq!(s.value[0], Value { tag: "train/loss".into(), kind: Some(Kind::SimpleValue(2.5)) });
        // A zero is written, not left out as a default.
        assert_eq!(s.value[1].kind, Some(Kind::SimpleValue(0.0)));
        assert!(events[2].wall_time > 1.0e9);
    }

    #[test]
    fn a_later_file_sorts_after_the_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let ahead = (unix_time() as u64) + 100;
        std::fs::write(dir.path().join(format!("{PREFIX}{ahead}.iamm-pipe.1")), b"").unwrap();
        let w = EventWriter::create(dir.path()).unwrap();
        let name = w.path().file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.starts_with(&format!("{PREFIX}{}.", ahead + 1)), "{name}");
        let second = EventWriter::create(dir.path()).unwrap();
        assert!(second.path().file_name().unwrap().to_str().unwrap() > name.as_str());
    }
}
