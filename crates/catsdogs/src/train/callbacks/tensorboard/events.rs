//! TensorBoard's event files, as TensorFlow 2 writes them: a file named
//! `events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2`, a sequence of TFRecords (the data's
//! length as a little-endian u64, its masked CRC-32C, the data, the data's masked CRC-32C),
//! each holding one `Event` protobuf message: first the file's version (`brain.Event:2`), then
//! one event per scalar, as `tf.summary.scalar` writes it (a float32 tensor of shape `()` with
//! the `scalars` plugin's metadata).
//!
//! The messages are the fields of `tensorflow/core/util/event.proto`,
//! `tensorflow/core/framework/summary.proto`, `tensor.proto` and `tensor_shape.proto` that these
//! events use, with their field numbers, encoded by prost; the CRC is the `crc` crate's
//! Castagnoli (iSCSI) one, masked as TFRecord's `MaskedCrc` does.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use prost::Message;

use crate::error::{Error, Result};
use crate::fsutil::AppendFile;

/// `Event` (event.proto): when, at which step, and what.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Event {
    /// Seconds since 1970.
    #[prost(double, tag = "1")]
    pub wall_time: f64,
    /// The step (Keras's epoch, from 0).
    #[prost(int64, tag = "2")]
    pub step: i64,
    /// The oneof `what`, of which these files use two members.
    #[prost(oneof = "What", tags = "3, 5")]
    pub what: Option<What>,
}

/// `Event.what`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub(super) enum What {
    /// `file_version`: `brain.Event:2`.
    #[prost(string, tag = "3")]
    FileVersion(String),
    /// `summary`.
    #[prost(message, tag = "5")]
    Summary(Summary),
}

/// `Summary` (summary.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Summary {
    /// `value`.
    #[prost(message, repeated, tag = "1")]
    pub value: Vec<SummaryValue>,
}

/// `Summary.Value`, with the member `tensor` of its oneof `value`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SummaryValue {
    /// `tag`: the scalar's name, e.g. `epoch_loss`.
    #[prost(string, tag = "1")]
    pub tag: String,
    /// `tensor`.
    #[prost(message, optional, tag = "8")]
    pub tensor: Option<TensorProto>,
    /// `metadata`.
    #[prost(message, optional, tag = "9")]
    pub metadata: Option<SummaryMetadata>,
}

/// `SummaryMetadata` (summary.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct SummaryMetadata {
    /// `plugin_data`.
    #[prost(message, optional, tag = "1")]
    pub plugin_data: Option<PluginData>,
}

/// `SummaryMetadata.PluginData`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct PluginData {
    /// `plugin_name`: `scalars`.
    #[prost(string, tag = "1")]
    pub plugin_name: String,
    /// `content`: the plugin's own message, empty for the scalars plugin's version 0.
    #[prost(bytes = "vec", tag = "2")]
    pub content: Vec<u8>,
}

/// `TensorProto` (tensor.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct TensorProto {
    /// `dtype`, the enum `DataType`: `DT_FLOAT` is 1.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    /// `tensor_shape`: present and empty for a scalar.
    #[prost(message, optional, tag = "2")]
    pub tensor_shape: Option<TensorShapeProto>,
    /// `tensor_content`: the values' bytes, little-endian.
    #[prost(bytes = "vec", tag = "4")]
    pub tensor_content: Vec<u8>,
}

/// `TensorShapeProto` (tensor_shape.proto), without dimensions: a scalar's.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct TensorShapeProto {}

/// `DataType.DT_FLOAT` (types.proto).
const DT_FLOAT: i32 = 1;

const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// TFRecord's `MaskedCrc`: the CRC-32C rotated right by 15 bits, plus a constant.
fn masked_crc(bytes: &[u8]) -> u32 {
    let crc = CASTAGNOLI.checksum(bytes);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length, its masked CRC, the data, its masked CRC.
pub(super) fn record(data: &[u8]) -> Vec<u8> {
    let length = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&length);
    out.extend_from_slice(&masked_crc(&length).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

/// The event of one scalar, as `tf.summary.scalar(tag, value, step)` writes it.
pub(super) fn scalar(tag: &str, value: f64, step: i64, wall_time: f64) -> Event {
    let value = SummaryValue {
        tag: tag.to_string(),
        tensor: Some(TensorProto {
            dtype: DT_FLOAT,
            tensor_shape: Some(TensorShapeProto {}),
            tensor_content: (value as f32).to_le_bytes().to_vec(),
        }),
        metadata: Some(SummaryMetadata {
            plugin_data: Some(PluginData {
                plugin_name: "scalars".to_string(),
                content: Vec::new(),
            }),
        }),
    };
    Event {
        wall_time,
        step,
        what: Some(What::Summary(Summary { value: vec![value] })),
    }
}

/// Seconds since 1970, as events record them.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The machine's name, as TensorFlow puts it in event file names (`localhost` if the system
/// does not say).
fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `buffer.len()` bytes into the buffer it is given.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    match std::str::from_utf8(&buffer[..end]) {
        Ok(name) if status == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// An event file being written: created in its folder with the version event, then one
/// record per [`EventFile::write`], each on disk when it returns.
#[derive(Debug)]
pub(super) struct EventFile {
    file: AppendFile,
}

impl EventFile {
    /// A new event file in `dir` (created if needed), named as TensorFlow 2 names them.
    pub(super) fn create(dir: &Path) -> Result<EventFile> {
        static FILES: AtomicUsize = AtomicUsize::new(0);
        let seconds = now() as u64;
        let (host, pid) = (hostname(), std::process::id());
        let file = loop {
            let n = FILES.fetch_add(1, Ordering::Relaxed);
            let name = format!("events.out.tfevents.{seconds:010}.{host}.{pid}.{n}.v2");
            match AppendFile::create_new(&dir.join(name)) {
                Err(Error::Exists { .. }) => continue,
                other => break other?,
            }
        };
        let mut events = EventFile { file };
        events.write(&Event {
            wall_time: now(),
            step: 0,
            what: Some(What::FileVersion("brain.Event:2".to_string())),
        })?;
        Ok(events)
    }

    /// Appends `event` as one record.
    pub(super) fn write(&mut self, event: &Event) -> Result<()> {
        self.file.append(&record(&event.encode_to_vec()))
    }

    /// Appends the scalar `tag` of step `step`, stamped now.
    pub(super) fn scalar(&mut self, tag: &str, value: f64, step: i64) -> Result<()> {
        self.write(&scalar(tag, value, step, now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_tfrecords_masked_crc32c() {
        // CRC-32C of "123456789" is 0xE3069283 (its check value).
        assert_eq!(CASTAGNOLI.checksum(b"123456789"), 0xe306_9283);
        let framed = record(b"abc");
        assert_eq!(framed.len(), 8 + 4 + 3 + 4);
        assert_eq!(&framed[..8], &3u64.to_le_bytes());
        assert_eq!(&framed[12..15], b"abc");
        let masked = |crc: u32| crc.rotate_right(15).wrapping_add(0xa282_ead8);
        assert_eq!(
            &framed[15..],
            &masked(CASTAGNOLI.checksum(b"abc")).to_le_bytes()
        );
    }

    #[test]
    fn a_scalar_event_reads_back() {
        let event = scalar("epoch_loss", 0.5, 3, 12.5);
        let again = Event::decode(event.encode_to_vec().as_slice()).unwrap();
        assert_eq!(again, event);
        let Some(What::Summary(summary)) = again.what else {
            panic!("a summary");
        };
        let tensor = summary.value[0].tensor.as_ref().unwrap();
        assert_eq!(tensor.tensor_content, 0.5f32.to_le_bytes());
    }
}
