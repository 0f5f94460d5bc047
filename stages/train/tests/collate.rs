//! The reference collate: padding, sorting, COMET tensors, errors.

mod common;

use candle_core::{Device, IndexOp, Result};
use common::{Ids, example};
use iamm_core::special::{CLS, EOS, PAD, SOS, SYS, USR};
use iamm_train::{Comet, Example, collate};

#[test]
fn pads_and_sorts_like_the_reference() -> Result<()> {
    let mut ids = Ids::new(1, 50);
    let a = example(&mut ids, &[3], 4, 2, Some(2), 5); // 1 utterance
    let b = example(&mut ids, &[2, 5, 1], 2, 6, Some(3), 7); // 3 utterances
    let c = example(&mut ids, &[4, 1], 3, 1, Some(1), 9); // 2 utterances
    let d = example(&mut ids, &[1, 1, 1], 1, 1, Some(1), 11); // 3 utterances, after b (stable)
    let batch = collate(&[&a, &b, &c, &d], &Device::Cpu)?;
    assert_eq!(batch.order, vec![1, 3, 2, 0]);
    assert_eq!(batch.utterances, vec![3, 3, 2, 1]);
    assert_eq!(batch.input.dims(), &[4, 3, 6]); // N = 3, L = 5 words + CLS
    assert_eq!(batch.mask_input.dims(), &[4, 3, 6]);
    assert_eq!(batch.situation.dims(), &[4, 5]);
    assert_eq!(batch.target.dims(), &[4, 7]);
    assert_eq!(batch.emotion.to_vec1::<u32>()?, vec![7, 11, 9, 5]);
    assert_eq!(batch.target_lens, vec![7, 2, 2, 3]);

    let input = batch.input.to_vec3::<u32>()?;
    let roles = batch.mask_input.to_vec3::<u32>()?;
    // row 0 = b: utterance 1 is [CLS] + 5 words
    assert_eq!(input[0][1], b.context[1]);
    assert_eq!(roles[0][1], vec![CLS, SYS, SYS, SYS, SYS, SYS]);
    assert_eq!(roles[0][0][..3], [CLS, USR, USR]);
    assert_eq!(input[0][2][2..], [PAD; 4]);
    // row 3 = a: one utterance, then two all-PAD slots (no CLS)
    assert_eq!(input[3][1], vec![PAD; 6]);
    assert_eq!(roles[3][2], vec![PAD; 6]);
    let target = batch.target.to_vec2::<u32>()?;
    assert_eq!(target[3], [a.target.clone(), vec![PAD; 4]].concat());
    assert_eq!(*a.target.last().unwrap(), EOS);
    let dec = batch.decoder_input()?.to_vec2::<u32>()?;
    assert_eq!(dec[3][0], SOS);
    assert_eq!(dec[3][1..], target[3][..6]);

    let comet = batch.comet.as_ref().unwrap();
    for r in 0..5 {
        let (bb, n, l) = comet.context[r].dims3()?;
        assert_eq!((bb, n), (4, 3));
        assert_eq!(comet.situation[r].dims()[..2], [4, 1]);
        // longest: 3 words, plus CLS except for xReact
        assert_eq!(l, if r == 4 { 3 } else { 4 });
    }
    assert_eq!(comet.context[0].i((0, 1))?.to_vec1::<u32>()?, b.comet.as_ref().unwrap().context[0][1]);
    assert_eq!(comet.context[0].i((3, 2))?.to_vec1::<u32>()?, vec![PAD; 4]);
    Ok(())
}

#[test]
fn comet_sequences_get_at_least_two_positions() -> Result<()> {
    let mut ids = Ids::new(2, 50);
    let mut e = example(&mut ids, &[2], 2, 2, Some(1), 0);
    let c = e.comet.as_mut().unwrap();
    for r in 0..4 {
        c.context[r] = vec![vec![CLS]];
        c.situation[r] = vec![CLS];
    }
    c.context[4] = vec![vec![]];
    c.situation[4] = vec![];
    let batch = collate(&[&e], &Device::Cpu)?;
    let comet = batch.comet.unwrap();
    for r in 0..5 {
        assert_eq!(comet.context[r].dims(), &[1, 1, 2]);
        assert_eq!(comet.situation[r].dims(), &[1, 1, 2]);
    }
    assert_eq!(comet.context[4].flatten_all()?.to_vec1::<u32>()?, vec![PAD, PAD]);
    Ok(())
}

#[test]
fn rejects_inconsistent_examples() {
    let mut ids = Ids::new(3, 50);
    let good = example(&mut ids, &[2, 3], 2, 2, Some(2), 0);
    let bare = example(&mut ids, &[2], 2, 2, None, 0);
    let check = |ex: &[&Example], what: &str| {
        let err = collate(ex, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(what), "{err}");
    };
    check(&[], "no examples");
    check(&[&good, &bare], "COMET");
    let mut e = good.clone();
    e.roles[1].pop();
    check(&[&e], "roles");
    let mut e = good.clone();
    e.comet = Some(Comet { context: Default::default(), situation: Default::default() });
    check(&[&e], "one sequence per context utterance");
    let mut e = good.clone();
    e.context.clear();
    e.roles.clear();
    check(&[&e], "no context");
    let mut e = good;
    e.target.clear();
    check(&[&e], "empty");
}
