//! Every malformed-input case: the error names the file and the right line, in plain words.

mod common;

use common::*;
use iamm_ingest::{BadLine, IngestError, OnBadLine, SourceKind};

/// Runs with a bad train.csv and returns the error, checking it names train.csv and `line`.
fn train_error(train: &[u8], line: u64) -> String {
    let dir = folder_with_train(train);
    let err = match run(dir.path(), OnBadLine::Error) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    };
    let file = dir.path().join("train.csv").display().to_string();
    match &err {
        IngestError::BadLine {
            file: f, line: l, ..
        } => {
            assert_eq!(f, &file);
            assert_eq!(*l, line, "{err}");
        }
        other => panic!("expected a line error, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{file}:{line}: ")), "{msg}");
    msg
}

/// good_csv("c") with its line `n` (1-based) replaced by `with`.
fn replace_line(n: usize, with: &str) -> String {
    let mut lines: Vec<String> = good_csv("c").lines().map(str::to_string).collect();
    lines[n - 1] = with.to_string();
    lines.join("\n") + "\n"
}

#[test]
fn good_small_folder() {
    let dir = folder_with_train(good_csv("c").as_bytes());
    let got = run(dir.path(), OnBadLine::Error).unwrap();
    assert_eq!(got.source_kind, SourceKind::Folder);
    let train = &got.splits[0];
    assert_eq!(strings(&train.dialogues, "conv_id"), ["c1", "c2"]);
    assert_eq!(
        strings(&train.dialogues, "situation"),
        ["My dog died, sadly.", "Got a job"]
    );
    assert_eq!(u8s(&train.dialogues, "emotion_id"), [5, 16]);
    assert_eq!(u64s(&train.dialogues, "first_line"), [2, 6]);
    assert_eq!(
        lists(&train.dialogues, "utterances")[0],
        [
            "I lost my dog.",
            "Oh no, I'm so sorry.",
            "\"Thanks\" he was 12.",
            "  That is a long life. "
        ]
    );
    assert_eq!(u32s(&train.examples, "example_id"), [0, 1, 2]);
    assert_eq!(strings(&train.examples, "conv_id"), ["c1", "c1", "c2"]);
    assert_eq!(u32s(&train.examples, "turn"), [1, 3, 1]);
    assert_eq!(
        lists(&train.examples, "context"),
        [
            vec!["I lost my dog."],
            vec![
                "I lost my dog.",
                "Oh no, I'm so sorry.",
                "\"Thanks\" he was 12."
            ],
            vec!["I got a job!"],
        ]
    );
    assert_eq!(
        strings(&train.examples, "target"),
        [
            "Oh no, I'm so sorry.",
            "  That is a long life. ",
            "Congrats!"
        ]
    );
    assert_eq!(strings(&got.splits[1].dialogues, "conv_id"), ["v1", "v2"]);
    assert_eq!(strings(&got.splits[2].dialogues, "conv_id"), ["t1", "t2"]);
}

#[test]
fn crlf_and_missing_final_newline_are_fine() {
    let crlf = good_csv("c").replace('\n', "\r\n");
    let no_final_newline = good_csv("c").trim_end_matches('\n').to_string();
    for text in [crlf, no_final_newline] {
        let dir = folder_with_train(text.as_bytes());
        let got = run(dir.path(), OnBadLine::Error).unwrap();
        let train = &got.splits[0];
        assert_eq!(
            lists(&train.dialogues, "utterances")[1],
            ["I got a job!", "Congrats!", "Thanks"]
        );
        assert_eq!(
            strings(&train.examples, "target")[1],
            "  That is a long life. "
        );
    }
}

#[test]
fn ninth_column_of_candidates_is_ignored() {
    let with_cands = good_csv("c").replace(",,\n", ",,Sure_comma_ why not|Nope _pipe_ no\n");
    let dir = folder_with_train(with_cands.as_bytes());
    let got = run(dir.path(), OnBadLine::Error).unwrap();
    assert_eq!(
        lists(&got.splits[0].dialogues, "utterances")[1],
        ["I got a job!", "Congrats!", "Thanks"]
    );
}

#[test]
fn wrong_column_count() {
    let msg = train_error(
        replace_line(3, "c1,2,sad,My dog died_comma_ sadly.,2,Oh no").as_bytes(),
        3,
    );
    assert!(
        msg.contains("expected 8 or 9 comma-separated columns, found 6"),
        "{msg}"
    );
    assert!(
        msg.contains("_comma_"),
        "says how commas must be written: {msg}"
    );
    let msg = train_error(replace_line(4, "c1,3,sad,x,1,a,b,c,d,e").as_bytes(), 4);
    assert!(msg.contains("found 10"), "{msg}");
}

#[test]
fn truncated_last_line() {
    let text = good_csv("c") + "c2,4,joyful,Got a";
    let msg = train_error(text.as_bytes(), 9);
    assert!(msg.contains("found 4"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
}

#[test]
fn non_utf8_line() {
    let mut bytes = good_csv("c").into_bytes();
    let at = bytes.windows(9).position(|w| w == b"Congrats!").unwrap();
    bytes[at] = 0xff;
    let msg = train_error(&bytes, 7);
    assert!(msg.contains("not valid UTF-8"), "{msg}");
}

#[test]
fn empty_file() {
    let msg = train_error(b"", 1);
    assert!(msg.contains("the file is empty"), "{msg}");
}

#[test]
fn header_only() {
    for text in [format!("{HEADER}\n"), HEADER.to_string()] {
        let msg = train_error(text.as_bytes(), 1);
        assert!(
            msg.contains("only its header line and no conversations"),
            "{msg}"
        );
    }
}

#[test]
fn wrong_header() {
    let text = good_csv("c").replacen("conv_id,utterance_idx,context", "id,idx,emotion", 1);
    let msg = train_error(text.as_bytes(), 1);
    assert!(msg.contains("wrong header `id,idx,emotion"), "{msg}");
    assert!(msg.contains(HEADER), "{msg}");
    // Extra header names after the first 8 are fine.
    let text = good_csv("c").replacen(HEADER, &format!("{HEADER},cands"), 1);
    let dir = folder_with_train(text.as_bytes());
    assert!(run(dir.path(), OnBadLine::Error).is_ok());
}

#[test]
fn header_must_have_exactly_8_or_9_columns() {
    // 50,000 extra names: rejected at line 1, and the message stays short.
    let extra: String = (0..50_000).map(|i| format!(",x{i}")).collect();
    let text = good_csv("c").replacen(HEADER, &format!("{HEADER}{extra}"), 1);
    let msg = train_error(text.as_bytes(), 1);
    assert!(msg.contains("(50008 columns)"), "{msg}");
    assert!(msg.contains(&format!("expected exactly `{HEADER}` (8 columns)")), "{msg}");
    assert!(msg.len() < 1500, "the header is cut in the message: {} bytes", msg.len());
    // Two extra names are rejected too; one (the candidates column) is fine, as checked above.
    let text = good_csv("c").replacen(HEADER, &format!("{HEADER},cands,more"), 1);
    let msg = train_error(text.as_bytes(), 1);
    assert!(msg.contains("(10 columns)"), "{msg}");
    // A missing name, and an empty 9th after a trailing comma, which is 9 columns: fine.
    let text = good_csv("c").replacen(HEADER, HEADER.trim_end_matches(",tags"), 1);
    assert!(train_error(text.as_bytes(), 1).contains("(7 columns)"));
    let text = good_csv("c").replacen(HEADER, &format!("{HEADER},"), 1);
    assert!(run(folder_with_train(text.as_bytes()).path(), OnBadLine::Error).is_ok());
    // skip mode cannot help with a wrong header.
    let text = good_csv("c").replacen(HEADER, &format!("{HEADER},a,b"), 1);
    let dir = folder_with_train(text.as_bytes());
    assert!(run(dir.path(), OnBadLine::Skip).unwrap_err().to_string().contains("wrong header"));
}

#[test]
fn nul_byte_in_an_utterance() {
    let msg = train_error(
        replace_line(3, "c1,2,sad,My dog died_comma_ sadly.,2,Oh\0 no,,").as_bytes(),
        3,
    );
    assert!(msg.contains("NUL byte (at byte 40 of the line)"), "{msg}");
    assert!(msg.contains("on_bad_line: skip"), "says what to do: {msg}");
    // In the situation too, and skip mode drops the line (and the conversation it breaks).
    let text = replace_line(7, "c2,2,joyful,Got a job\0,2,Congrats!,,");
    assert!(train_error(text.as_bytes(), 7).contains("NUL byte"));
    let got = run(folder_with_train(text.as_bytes()).path(), OnBadLine::Skip).unwrap();
    assert_eq!(got.skipped.iter().map(|b| b.line).collect::<Vec<_>>(), [7, 8]);
    assert!(got.skipped[0].problem.contains("NUL byte"));
    let tokens = lists(&got.splits[0].dialogues, "utterances").concat();
    assert!(tokens.iter().all(|u| !u.contains('\0')), "{tokens:?}");
}

#[test]
fn conv_id_in_two_splits_is_kept_and_listed() {
    // Test's second conversation reuses train's id `c2`; valid reuses `c1`.
    let test = good_csv("t").replace("t2,", "c2,");
    let valid = good_csv("v").replace("v1,", "c1,");
    let dir = folder(good_csv("c").as_bytes(), valid.as_bytes(), test.as_bytes());
    let got = run(dir.path(), OnBadLine::Error).unwrap();
    let file = |s: &str| dir.path().join(format!("{s}.csv")).display().to_string();
    assert_eq!(got.shared_conv_ids.len(), 2, "{:?}", got.shared_conv_ids);
    let c1 = &got.shared_conv_ids[0];
    assert_eq!(c1.conv_id, "c1");
    assert_eq!(c1.places, [("train", file("train"), 2), ("valid", file("valid"), 2)]);
    let c2 = &got.shared_conv_ids[1];
    assert_eq!(c2.places, [("train", file("train"), 6), ("test", file("test"), 6)]);
    assert_eq!(c2.to_string(), format!("conv_id `c2` is in {}:6 and {}:6", file("train"), file("test")));
    // The data is kept as it is.
    assert_eq!(strings(&got.splits[2].dialogues, "conv_id"), ["t1", "c2"]);
    // Distinct ids: nothing listed.
    let dir = folder_with_train(good_csv("c").as_bytes());
    assert!(run(dir.path(), OnBadLine::Error).unwrap().shared_conv_ids.is_empty());
}

#[test]
fn unknown_emotion() {
    let msg = train_error(
        replace_line(6, "c2,1,happy,Got a job,1,I got a job!,,").as_bytes(),
        6,
    );
    assert!(msg.contains("unknown emotion label `happy`"), "{msg}");
    assert!(
        msg.contains("surprised, excited, annoyed"),
        "lists the 32: {msg}"
    );
    assert!(msg.contains("faithful"), "{msg}");
}

#[test]
fn utterance_idx_not_integer() {
    let msg = train_error(
        replace_line(3, "c1,two,sad,My dog died_comma_ sadly.,2,Oh no,,").as_bytes(),
        3,
    );
    assert!(
        msg.contains("utterance_idx (column 2) `two` is not an integer"),
        "{msg}"
    );
}

#[test]
fn utterance_idx_gap() {
    let msg = train_error(
        replace_line(4, "c1,4,sad,My dog died_comma_ sadly.,1,x,,").as_bytes(),
        4,
    );
    assert!(
        msg.contains("utterance_idx 4 follows 2 in conversation `c1`, expected 3"),
        "{msg}"
    );
}

#[test]
fn conversation_not_starting_at_one() {
    let text = good_csv("c")
        .replace("c2,1,", "c2,0,")
        .replace("c2,2,", "c2,1,")
        .replace("c2,3,", "c2,2,");
    let msg = train_error(text.as_bytes(), 6);
    assert!(
        msg.contains("conversation `c2` starts with utterance_idx 0, expected 1"),
        "{msg}"
    );
}

#[test]
fn conv_id_reappearing_later() {
    let text = good_csv("c") + "c1,5,sad,My dog died_comma_ sadly.,1,One more thing.,,\n";
    let msg = train_error(text.as_bytes(), 9);
    assert!(msg.contains("conv_id `c1` appears again"), "{msg}");
    assert!(msg.contains("lines 2-5"), "{msg}");
}

#[test]
fn emotion_changes_within_conversation() {
    let msg = train_error(
        replace_line(4, "c1,3,sad,My dog died_comma_ sadly.,1,ok,,")
            .replace("c1,4,sad", "c1,4,angry")
            .as_bytes(),
        5,
    );
    assert!(
        msg.contains("emotion changes from `sad` (line 2) to `angry` within conversation `c1`"),
        "{msg}"
    );
}

#[test]
fn situation_changes_within_conversation() {
    let msg = train_error(
        replace_line(3, "c1,2,sad,My cat died.,2,Oh no,,").as_bytes(),
        3,
    );
    assert!(
        msg.contains("situation (prompt) differs from the one on line 2"),
        "{msg}"
    );
}

#[test]
fn error_in_valid_names_valid_csv() {
    let bad = good_csv("v").replace("v2,2,joyful,Got a job,2,Congrats!,,", "v2,2,joyful");
    let dir = folder(
        good_csv("c").as_bytes(),
        bad.as_bytes(),
        good_csv("t").as_bytes(),
    );
    let msg = run(dir.path(), OnBadLine::Error).unwrap_err().to_string();
    let file = dir.path().join("valid.csv").display().to_string();
    assert!(
        msg.starts_with(&format!("{file}:7: expected 8 or 9")),
        "{msg}"
    );
}

#[test]
fn missing_file_and_missing_source() {
    let dir = folder_with_train(good_csv("c").as_bytes());
    std::fs::remove_file(dir.path().join("valid.csv")).unwrap();
    let err = run(dir.path(), OnBadLine::Error).unwrap_err();
    assert!(matches!(err, IngestError::MissingFile { .. }));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&dir.path().join("valid.csv").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("missing"), "{msg}");

    let nowhere = dir.path().join("no-such-folder");
    let err = run(&nowhere, OnBadLine::Error).unwrap_err();
    assert!(matches!(err, IngestError::SourceMissing { .. }));
    assert!(
        err.to_string()
            .starts_with(&format!("{}: source not found", nowhere.display()))
    );
}

#[test]
fn skip_mode_returns_good_data_and_both_bad_lines() {
    // Line 5 (c1's last utterance) has 6 columns; line 6 is junk between conversations.
    let mut lines: Vec<String> = good_csv("c").lines().map(str::to_string).collect();
    lines[4] = "c1,4,sad,My dog died_comma_ sadly.,2,oops".to_string();
    lines.insert(5, "c9,1,happy,Unknown,1,Hi,,".to_string());
    let text = lines.join("\n") + "\n";
    let dir = folder_with_train(text.as_bytes());
    assert!(
        run(dir.path(), OnBadLine::Error).is_err(),
        "error mode still fails"
    );

    let got = run(dir.path(), OnBadLine::Skip).unwrap();
    let file = dir.path().join("train.csv").display().to_string();
    assert_eq!(got.skipped.len(), 2);
    assert_eq!(
        got.skipped[0],
        BadLine {
            file: file.clone(),
            line: 5,
            problem: "expected 8 or 9 comma-separated columns, found 6".to_string()
        }
    );
    assert_eq!(got.skipped[1].file, file);
    assert_eq!(got.skipped[1].line, 6);
    assert!(
        got.skipped[1]
            .problem
            .starts_with("unknown emotion label `happy`")
    );
    assert_eq!(
        got.skipped[1].to_string(),
        format!("{file}:6: {}", got.skipped[1].problem)
    );

    let train = &got.splits[0];
    assert_eq!(strings(&train.dialogues, "conv_id"), ["c1", "c2"]);
    assert_eq!(lists(&train.dialogues, "utterances")[0].len(), 3);
    assert_eq!(u64s(&train.dialogues, "first_line"), [2, 7]);
    assert_eq!(strings(&train.examples, "conv_id"), ["c1", "c2"]);
    assert_eq!(u32s(&train.examples, "example_id"), [0, 1]);
    // valid and test untouched
    assert_eq!(got.splits[1].examples.num_rows(), 3);
    assert_eq!(got.splits[2].examples.num_rows(), 3);
}

#[test]
fn skip_mode_drops_inconsistent_conversations() {
    // c1 has a gap (1, 2, 4, 4), c2 changes emotion, c3 is fine, then c3 reappears after c4.
    let text = format!(
        "{HEADER}\n\
         c1,1,sad,S,1,a,,\n\
         c1,2,sad,S,2,b,,\n\
         c1,4,sad,S,1,c,,\n\
         c1,4,sad,S,2,d,,\n\
         c2,1,proud,P,1,e,,\n\
         c2,2,angry,P,2,f,,\n\
         c3,1,content,C,1,g,,\n\
         c3,2,content,C,2,h,,\n\
         c4,1,content,D,1,i,,\n\
         c4,2,content,D,2,j,,\n\
         c3,3,content,C,1,k,,\n"
    );
    let dir = folder_with_train(text.as_bytes());
    let got = run(dir.path(), OnBadLine::Skip).unwrap();
    let lines: Vec<u64> = got.skipped.iter().map(|b| b.line).collect();
    assert_eq!(lines, [4, 7, 12]);
    assert!(got.skipped[0].problem.contains("utterance_idx 4 follows 2"));
    assert!(
        got.skipped[0]
            .problem
            .ends_with("conversation `c1` (from line 2) dropped")
    );
    assert!(
        got.skipped[1]
            .problem
            .contains("emotion changes from `proud` (line 6) to `angry`")
    );
    assert!(
        got.skipped[2]
            .problem
            .contains("conv_id `c3` appears again")
    );
    let train = &got.splits[0];
    assert_eq!(strings(&train.dialogues, "conv_id"), ["c3", "c4"]);
    assert_eq!(
        lists(&train.dialogues, "utterances"),
        [vec!["g", "h"], vec!["i", "j"]]
    );
    assert_eq!(strings(&train.examples, "target"), ["h", "j"]);
    assert_eq!(u32s(&train.examples, "example_id"), [0, 1]);
}

#[test]
fn skip_mode_still_fails_on_file_level_problems() {
    let dir = folder_with_train(format!("{HEADER}\n").as_bytes());
    let err = run(dir.path(), OnBadLine::Skip).unwrap_err();
    assert!(err.to_string().contains("only its header line"), "{err}");
}

#[test]
fn garbage_never_panics() {
    let cases: [&[u8]; 8] = [
        b"\n",
        b"\r\n\r\n",
        b"conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n\n",
        b"conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n,,,,,,,\n",
        b"conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\nc,4294967295,sad,s,,u,,\nc,4294967296,sad,s,,u,,\n",
        b"conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\nc,-1,sad,s,,u,,\n",
        b"\xff\xfe\x00",
        b"conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n\xe2\x82,1,sad,s,,u,,",
    ];
    for bytes in cases {
        let dir = folder_with_train(bytes);
        for mode in [OnBadLine::Error, OnBadLine::Skip] {
            let _ = run(dir.path(), mode);
        }
    }
}
