//! Loading what the train stage publishes, and the errors that name what is wrong.

mod common;

use std::path::Path;

use candle_core::{Device, Result};
use common::{err_text, examples, tiny};
use iamm_train::training::{TrainOptions, Trainer};
use iamm_train::{IammConfig, Variant, collate, load_model};

/// Writes what the train stage publishes (weights of a fresh trainer and its config).
fn publish(dir: &Path, cfg: &IammConfig, seed: u64) -> Result<Trainer> {
    let opts = TrainOptions { seed, ..TrainOptions::default() };
    let trainer = Trainer::new(cfg, None, opts, Device::Cpu)?;
    trainer.save_weights(&dir.join("model.safetensors"))?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(cfg).unwrap()).unwrap();
    Ok(trainer)
}

#[test]
fn load_model_round_trips_what_the_train_stage_publishes() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    for variant in Variant::ALL {
        let cfg = tiny(variant);
        let sub = dir.path().join(format!("{variant:?}"));
        std::fs::create_dir_all(&sub).unwrap();
        let trainer = publish(&sub, &cfg, 5)?;
        let loaded = load_model(&sub.join("model.safetensors"), &sub.join("config.json"), &Device::Cpu)?;
        assert_eq!(loaded.config(), &cfg);
        let mut ex = examples(3, 5);
        if variant == Variant::WithoutIA {
            ex.iter_mut().for_each(|e| e.comet = None);
        }
        let batch = collate(&ex.iter().collect::<Vec<_>>(), &Device::Cpu)?;
        let a = trainer.model().loss(&batch)?;
        let b = loaded.loss(&batch)?;
        assert_eq!(a.total.to_scalar::<f32>()?, b.total.to_scalar::<f32>()?, "{variant:?}");
        assert_eq!(a.emotion.combined.to_vec2::<f32>()?, b.emotion.combined.to_vec2::<f32>()?);
    }
    Ok(())
}

#[test]
fn load_model_errors_name_the_file_and_the_problem() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = tiny(Variant::Full);
    publish(d, &cfg, 1)?;
    let (w, c) = (d.join("model.safetensors"), d.join("config.json"));

    let e = err_text(load_model(&d.join("nope.safetensors"), &c, &Device::Cpu));
    assert!(e.contains("nope.safetensors") && e.contains("no such file"), "{e}");
    let e = err_text(load_model(&w, &d.join("missing.json"), &Device::Cpu));
    assert!(e.contains("missing.json") && e.contains("cannot read"), "{e}");

    let bad = d.join("bad.json");
    std::fs::write(&bad, r#"{"vocab_size": 60, "hidden_size": 3}"#).unwrap();
    let e = err_text(load_model(&w, &bad, &Device::Cpu));
    assert!(e.contains("bad.json") && e.contains("hidden_size"), "{e}");
    std::fs::write(&bad, r#"{"vocab_size": 60, "depth": 7}"#).unwrap();
    let e = err_text(load_model(&w, &bad, &Device::Cpu));
    assert!(e.contains("bad.json") && e.contains("depth 7"), "{e}");

    let garbage = d.join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").unwrap();
    let e = err_text(load_model(&garbage, &c, &Device::Cpu));
    assert!(e.contains("garbage.safetensors") && e.contains("safetensors"), "{e}");

    // another vocabulary size: the embedding is the first mismatch met, both shapes named
    let other = d.join("other.json");
    std::fs::write(&other, serde_json::to_vec(&IammConfig { vocab_size: 61, ..cfg.clone() }).unwrap()).unwrap();
    let e = err_text(load_model(&w, &other, &Device::Cpu));
    assert!(e.contains("embedding.lut.weight") && e.contains("[60, 16]") && e.contains("[61, 16]"), "{e}");

    // weights of the full model under a w/o WS configuration: the selector's tensors are extra
    std::fs::write(&other, serde_json::to_vec(&tiny(Variant::WithoutWS)).unwrap()).unwrap();
    let e = err_text(load_model(&w, &other, &Device::Cpu));
    assert!(e.contains("not part of the model") && e.contains("rel_decoder."), "{e}");

    // weights of w/o WS under the full configuration: a needed tensor is missing
    let sub = d.join("ws");
    std::fs::create_dir_all(&sub).unwrap();
    publish(&sub, &tiny(Variant::WithoutWS), 1)?;
    let e = err_text(load_model(&sub.join("model.safetensors"), &c, &Device::Cpu));
    assert!(e.contains("no tensor `") && e.contains("config.json"), "{e}");
    Ok(())
}
