//! Reading the release `.tar.gz`, built here from small CSVs.

mod common;

use std::path::Path;

use common::*;
use iamm_ingest::{IngestError, IngestOptions, OFFICIAL_SHA256, OnBadLine, SourceKind, ingest};
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

fn build_archive(path: &Path, entries: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn opts(verify_checksum: bool) -> IngestOptions {
    IngestOptions {
        on_bad_line: OnBadLine::Error,
        verify_checksum,
    }
}

fn release_like(dir: &Path, prefix: &str) -> std::path::PathBuf {
    let path = dir.join("empatheticdialogues.tar.gz");
    let (train, valid, test) = (good_csv("c"), good_csv("v"), good_csv("t"));
    build_archive(
        &path,
        &[
            (&format!("{prefix}/README"), b"not data" as &[u8]),
            (&format!("{prefix}/test.csv"), test.as_bytes()),
            (&format!("{prefix}/train.csv"), train.as_bytes()),
            (&format!("{prefix}/._valid.csv"), b"\x00\x05junk" as &[u8]),
            (&format!("{prefix}/valid.csv"), valid.as_bytes()),
        ],
    );
    path
}

#[test]
fn archive_reads_without_checksum_and_is_refused_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = release_like(dir.path(), "empatheticdialogues");
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&path).unwrap()));

    let progress = ProgressBar::hidden();
    let got = ingest(&path, &opts(false), &progress).unwrap();
    assert_eq!(
        got.source_kind,
        SourceKind::Archive {
            sha256: sha.clone()
        }
    );
    let csv_bytes = (good_csv("c").len() + good_csv("v").len() + good_csv("t").len()) as u64;
    assert_eq!(progress.length(), Some(csv_bytes));
    assert_eq!(strings(&got.splits[0].dialogues, "conv_id"), ["c1", "c2"]);
    assert_eq!(strings(&got.splits[1].dialogues, "conv_id"), ["v1", "v2"]);
    assert_eq!(strings(&got.splits[2].dialogues, "conv_id"), ["t1", "t2"]);
    assert_eq!(
        strings(&got.splits[0].examples, "target")[0],
        "Oh no, I'm so sorry."
    );

    let err = ingest(&path, &opts(true), &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, IngestError::ChecksumMismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: not the official EmpatheticDialogues release",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.contains(&sha), "shows the hash found: {msg}");
    assert!(msg.contains(OFFICIAL_SHA256), "{msg}");
    assert!(msg.contains("extracted folder"), "{msg}");
    assert!(msg.contains("verify_checksum: false"), "{msg}");

    // The default options verify.
    assert!(ingest(&path, &IngestOptions::default(), &ProgressBar::hidden()).is_err());
}

#[test]
fn archive_with_other_prefix_and_line_errors_name_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ed.tar.gz");
    let bad = good_csv("c").replace("c1,3,sad", "c1,3,glad");
    build_archive(
        &path,
        &[
            ("data/ed/train.csv", bad.as_bytes()),
            ("data/ed/valid.csv", good_csv("v").as_bytes()),
            ("data/ed/test.csv", good_csv("t").as_bytes()),
        ],
    );
    let msg = ingest(&path, &opts(false), &ProgressBar::hidden())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(&format!(
            "{}/data/ed/train.csv:4: unknown emotion label `glad`",
            path.display()
        )),
        "{msg}"
    );
}

#[test]
fn archive_missing_entry_or_not_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.tar.gz");
    build_archive(
        &path,
        &[
            ("x/train.csv", good_csv("c").as_bytes()),
            ("x/valid.csv", good_csv("v").as_bytes()),
        ],
    );
    let err = ingest(&path, &opts(false), &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, IngestError::Archive { .. }));
    let msg = err.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains("no entry named test.csv"), "{msg}");

    let junk = dir.path().join("train.csv");
    std::fs::write(&junk, good_csv("c")).unwrap();
    let err = ingest(&junk, &opts(false), &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, IngestError::Archive { .. }), "{err}");
    // With the check on, a plain file is refused by the checksum first.
    let err = ingest(&junk, &opts(true), &ProgressBar::hidden()).unwrap_err();
    assert!(matches!(err, IngestError::ChecksumMismatch { .. }), "{err}");
}
