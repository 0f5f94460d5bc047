//! `examples_{split}` as tokenize writes it: ingest's examples in token ids, with the
//! speaker-role masks the model reads and, when comet is upstream, the COMET inputs `c_*` (per
//! context utterance) and `s_*` (for the situation). Train, evaluate and analysis read it.
//! (Ingest publishes its own `examples_{split}`, in text: the `text_examples` module.)

use std::sync::Arc;

use arrow_array::types::{UInt8Type, UInt32Type};
use arrow_array::{ArrayRef, RecordBatch, UInt8Array};
use arrow_schema::{DataType, Field, Schema};
use iamm_core::RELATIONS;

use crate::TableError;
use crate::columns::{Reader, batch, id_list_lists, id_lists, list, nullable_item, string_lists, strings, u32s};

/// Number of COMET relations (xIntent, xNeed, xWant, xEffect, xReact: `iamm_core::RELATIONS`).
pub const NUM_RELATIONS: usize = RELATIONS.len();

/// COMET knowledge of one example, as the tokenize stage writes it: per relation (in
/// `iamm_core::RELATIONS` order) one id sequence per context utterance and one for the
/// situation. Each is the 5 beams concatenated, words outside the vocabulary and the tokens
/// "to" / "none" dropped, with `[CLS]` prepended except for xReact (the reference's
/// `preprocess(cs=...)`); it may be empty (xReact) or `[CLS]` alone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Comet {
    /// `context[r][j]`: relation `r` of context utterance `j` (the `c_*` columns).
    pub context: [Vec<Vec<u32>>; NUM_RELATIONS],
    /// `situation[r]`: relation `r` of the situation (the `s_*` columns).
    pub situation: [Vec<u32>; NUM_RELATIONS],
}

/// One example in token ids, as the model reads it (`iamm_core::special` for the special ids).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Example {
    /// Context utterances, each `[CLS] + ids` (`context_ids`).
    pub context: Vec<Vec<u32>>,
    /// Speaker roles per utterance, each `[CLS] + [USR|SYS] × len` (same lengths as `context`;
    /// `context_roles`).
    pub roles: Vec<Vec<u32>>,
    /// `[CLS] + ids` (`situation_ids`).
    pub situation: Vec<u32>,
    /// `ids + [EOS]` (`target_ids`).
    pub target: Vec<u32>,
    /// Emotion class (EMO_MAP order; `emotion_id`).
    pub emotion: u8,
    /// COMET knowledge; `None` for the w/o IA variant (then for every example of the batch).
    pub comet: Option<Comet>,
}

/// One row: the example and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenExample {
    /// As ingest numbered it.
    pub example_id: u32,
    pub conv_id: String,
    pub turn: u32,
    /// The emotion label (its class is `example.emotion`).
    pub emotion: String,
    pub example: Example,
    /// The target's tokens (never UNK), as the reference prints `Ref:`.
    pub target_tokens: Vec<String>,
}

/// The columns, with the COMET inputs when `with_knowledge`.
pub fn schema(with_knowledge: bool) -> Schema {
    let ids = || list(DataType::UInt32);
    let mut fields = vec![
        Field::new("example_id", DataType::UInt32, false),
        Field::new("conv_id", DataType::Utf8, false),
        Field::new("turn", DataType::UInt32, false),
        Field::new("emotion", DataType::Utf8, false),
        Field::new("emotion_id", DataType::UInt8, false),
        Field::new("context_ids", list(ids()), false),
        Field::new("context_roles", list(ids()), false),
        Field::new("situation_ids", ids(), false),
        Field::new("target_ids", ids(), false),
        Field::new("target_tokens", list(DataType::Utf8), false),
    ];
    if with_knowledge {
        fields.extend(RELATIONS.iter().map(|(_, short)| Field::new(format!("c_{short}"), list(ids()), false)));
        fields.extend(RELATIONS.iter().map(|(_, short)| Field::new(format!("s_{short}"), ids(), false)));
    }
    Schema::new(fields)
}

/// Writes the rows, with the COMET columns when `with_knowledge` (then every row carries
/// its knowledge, and no row does otherwise).
pub fn write(rows: &[TokenExample], with_knowledge: bool) -> Result<RecordBatch, TableError> {
    if let Some(i) = rows.iter().position(|r| r.example.comet.is_some() != with_knowledge) {
        let has = if with_knowledge { "has no" } else { "has" };
        return Err(TableError::Invalid { table: "examples".into(), row: i, what: format!("the example {has} COMET knowledge, unlike the table") });
    }
    let ex = || rows.iter().map(|r| &r.example);
    let mut columns: Vec<ArrayRef> = vec![
        u32s(rows.iter().map(|r| r.example_id)),
        strings(rows.iter().map(|r| r.conv_id.as_str())),
        u32s(rows.iter().map(|r| r.turn)),
        strings(rows.iter().map(|r| r.emotion.as_str())),
        Arc::new(UInt8Array::from_iter_values(ex().map(|e| e.emotion))),
        id_list_lists(ex().map(|e| e.context.as_slice())),
        id_list_lists(ex().map(|e| e.roles.as_slice())),
        id_lists(ex().map(|e| e.situation.as_slice())),
        id_lists(ex().map(|e| e.target.as_slice())),
        string_lists(rows.iter().map(|r| r.target_tokens.as_slice()), nullable_item(DataType::Utf8)),
    ];
    let comet = || ex().filter_map(|e| e.comet.as_ref());
    if with_knowledge {
        columns.extend((0..NUM_RELATIONS).map(|r| id_list_lists(comet().map(|c| c.context[r].as_slice()))));
        columns.extend((0..NUM_RELATIONS).map(|r| id_lists(comet().map(|c| c.situation[r].as_slice()))));
    }
    batch("examples", schema(with_knowledge), columns)
}

/// Reads a tokenize `examples_{split}` table; with `with_knowledge` the COMET columns too
/// (the comet stage upstream of tokenize), which the rows then carry.
pub fn read(table_batch: &RecordBatch, table: &str, with_knowledge: bool) -> Result<Vec<TokenExample>, TableError> {
    let r = Reader::new(table_batch, table, "tokenize", schema(with_knowledge));
    let (example_id, turn) = (r.primitive::<UInt32Type>("example_id")?, r.primitive::<UInt32Type>("turn")?);
    let (conv_id, emotion) = (r.strings("conv_id")?, r.strings("emotion")?);
    let emotion_id = r.primitive::<UInt8Type>("emotion_id")?;
    let mut context = r.id_list_lists("context_ids")?.into_iter();
    let mut roles = r.id_list_lists("context_roles")?.into_iter();
    let mut situation = r.id_lists("situation_ids")?.into_iter();
    let mut target = r.id_lists("target_ids")?.into_iter();
    let mut target_tokens = r.string_lists("target_tokens")?.into_iter();
    let mut comet = if with_knowledge {
        let c = RELATIONS.iter().map(|(_, s)| r.id_list_lists(&format!("c_{s}")).map(Vec::into_iter)).collect::<Result<Vec<_>, _>>()?;
        let s = RELATIONS.iter().map(|(_, s)| r.id_lists(&format!("s_{s}")).map(Vec::into_iter)).collect::<Result<Vec<_>, _>>()?;
        Some((c, s))
    } else {
        None
    };
    // Every column has a value per row (a `RecordBatch` guarantees it).
    let mut rows = Vec::with_capacity(r.rows());
    for i in 0..r.rows() {
        let knowledge = comet.as_mut().map(|(c, s)| {
            let mut k = Comet::default();
            for rel in 0..NUM_RELATIONS {
                k.context[rel] = c[rel].next().unwrap_or_default();
                k.situation[rel] = s[rel].next().unwrap_or_default();
            }
            k
        });
        rows.push(TokenExample {
            example_id: example_id.value(i),
            conv_id: conv_id.value(i).to_string(),
            turn: turn.value(i),
            emotion: emotion.value(i).to_string(),
            example: Example {
                context: context.next().unwrap_or_default(),
                roles: roles.next().unwrap_or_default(),
                situation: situation.next().unwrap_or_default(),
                target: target.next().unwrap_or_default(),
                emotion: emotion_id.value(i),
                comet: knowledge,
            },
            target_tokens: target_tokens.next().unwrap_or_default(),
        });
    }
    Ok(rows)
}
