//! Examples from the tokenize stage's Arrow tables (`examples_{split}`), with the COMET
//! inputs (`c_*`, `s_*`) when asked for.

use arrow_array::cast::AsArray;
use arrow_array::types::{UInt8Type, UInt32Type};
use arrow_array::{Array, ListArray, RecordBatch};
use iamm_core::RELATIONS;

use crate::batch::{Comet, Example, NUM_RELATIONS};

fn list<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ListArray, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("the examples table has no column `{name}` (is the tokenize stage upstream?)"))?
        .as_list_opt::<i32>()
        .ok_or_else(|| format!("column `{name}` is not a list"))
}

fn ids(list: &ListArray, row: usize) -> Result<Vec<u32>, String> {
    let v = list.value(row);
    Ok(v.as_primitive_opt::<UInt32Type>().ok_or("token ids are not UInt32")?.values().to_vec())
}

fn nested(list: &ListArray, row: usize) -> Result<Vec<Vec<u32>>, String> {
    let inner = list.value(row);
    let inner = inner.as_list_opt::<i32>().ok_or("expected a list of id lists")?;
    (0..inner.len()).map(|i| ids(inner, i)).collect()
}

/// Every row of a tokenized examples table; with `with_comet` the table must carry the
/// COMET columns (the comet stage upstream of tokenize).
pub fn examples(batch: &RecordBatch, with_comet: bool) -> Result<Vec<Example>, String> {
    let (context, roles) = (list(batch, "context_ids")?, list(batch, "context_roles")?);
    let (situation, target) = (list(batch, "situation_ids")?, list(batch, "target_ids")?);
    let emotion = batch
        .column_by_name("emotion_id")
        .and_then(|c| c.as_primitive_opt::<UInt8Type>())
        .ok_or("the examples table has no UInt8 column `emotion_id`")?;
    let comet = if with_comet {
        let c = RELATIONS.iter().map(|(_, s)| list(batch, &format!("c_{s}"))).collect::<Result<Vec<_>, _>>()?;
        let s = RELATIONS.iter().map(|(_, s)| list(batch, &format!("s_{s}"))).collect::<Result<Vec<_>, _>>()?;
        Some((c, s))
    } else {
        None
    };
    (0..batch.num_rows())
        .map(|row| {
            let knowledge = match &comet {
                Some((c, s)) => {
                    let mut k = Comet::default();
                    for r in 0..NUM_RELATIONS {
                        k.context[r] = nested(c[r], row)?;
                        k.situation[r] = ids(s[r], row)?;
                    }
                    Some(k)
                }
                None => None,
            };
            Ok(Example {
                context: nested(context, row)?,
                roles: nested(roles, row)?,
                situation: ids(situation, row)?,
                target: ids(target, row)?,
                emotion: emotion.value(row),
                comet: knowledge,
            })
        })
        .collect()
}
