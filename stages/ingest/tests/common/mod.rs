//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use iamm_ingest::{IngestError, IngestOptions, Ingested, OnBadLine, ingest};
use indicatif::ProgressBar;

/// The real EmpatheticDialogues files: `$IAMM_ED_DIR`, else `shared/data/ed` beside the checkout.
pub fn ed_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("IAMM_ED_DIR") {
        return PathBuf::from(dir);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ed");
    assert!(
        dir.join("train.csv").is_file(),
        "real ED data not found at {} (set IAMM_ED_DIR to a folder with train/valid/test.csv)",
        dir.display()
    );
    dir
}

pub const HEADER: &str = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags";

/// A small, valid split file: conversation `<p>1` (4 utterances, lines 2-5) and `<p>2`
/// (3 utterances, lines 6-8).
pub fn good_csv(p: &str) -> String {
    format!(
        "{HEADER}\n\
         {p}1,1,sad,My dog died_comma_ sadly.,1,I lost my dog.,,\n\
         {p}1,2,sad,My dog died_comma_ sadly.,2,Oh no_comma_ I'm so sorry.,,\n\
         {p}1,3,sad,My dog died_comma_ sadly.,1,\"Thanks\" he was 12.,,\n\
         {p}1,4,sad,My dog died_comma_ sadly.,2,  That is a long life. ,,\n\
         {p}2,1,joyful,Got a job,1,I got a job!,,\n\
         {p}2,2,joyful,Got a job,2,Congrats!,,\n\
         {p}2,3,joyful,Got a job,1,Thanks,,\n"
    )
}

/// Writes train/valid/test.csv into a fresh temp folder.
pub fn folder(train: &[u8], valid: &[u8], test: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("train.csv"), train).expect("write");
    std::fs::write(dir.path().join("valid.csv"), valid).expect("write");
    std::fs::write(dir.path().join("test.csv"), test).expect("write");
    dir
}

/// A folder whose train.csv is `train` and whose valid/test files are good.
pub fn folder_with_train(train: &[u8]) -> tempfile::TempDir {
    folder(train, good_csv("v").as_bytes(), good_csv("t").as_bytes())
}

pub fn run(source: &Path, on_bad_line: OnBadLine) -> Result<Ingested, IngestError> {
    let opts = IngestOptions {
        on_bad_line,
        verify_checksum: true,
    };
    ingest(source, &opts, &ProgressBar::hidden())
}

pub fn strings(batch: &RecordBatch, col: &str) -> Vec<String> {
    let a = batch
        .column_by_name(col)
        .expect("column")
        .as_string::<i32>();
    (0..a.len()).map(|i| a.value(i).to_string()).collect()
}

pub fn lists(batch: &RecordBatch, col: &str) -> Vec<Vec<String>> {
    let a = batch.column_by_name(col).expect("column").as_list::<i32>();
    (0..a.len())
        .map(|i| {
            let v = a.value(i);
            let s = v.as_string::<i32>();
            (0..s.len()).map(|j| s.value(j).to_string()).collect()
        })
        .collect()
}

pub fn u8s(batch: &RecordBatch, col: &str) -> Vec<u8> {
    batch
        .column_by_name(col)
        .expect("column")
        .as_primitive::<UInt8Type>()
        .values()
        .to_vec()
}

pub fn u32s(batch: &RecordBatch, col: &str) -> Vec<u32> {
    batch
        .column_by_name(col)
        .expect("column")
        .as_primitive::<UInt32Type>()
        .values()
        .to_vec()
}

pub fn u64s(batch: &RecordBatch, col: &str) -> Vec<u64> {
    batch
        .column_by_name(col)
        .expect("column")
        .as_primitive::<UInt64Type>()
        .values()
        .to_vec()
}
