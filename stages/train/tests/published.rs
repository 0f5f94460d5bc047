//! Saving and loading what the train stage publishes, and the errors that name what is wrong.

mod common;

use std::path::Path;

use candle_core::{Device, Result};
use common::{err_text, examples, tiny};
use iamm_train::training::{TrainOptions, Trainer};
use iamm_train::{IammConfig, Published, Variant, collate};

/// Publishes a fresh trainer's weights and config into `dir`.
fn publish(dir: &Path, cfg: &IammConfig, seed: u64) -> Result<Trainer> {
    let opts = TrainOptions { seed, ..TrainOptions::default() };
    let trainer = Trainer::new(cfg, None, opts, Device::Cpu)?;
    std::fs::create_dir_all(dir).unwrap();
    trainer.published("train", "0123", r#"{"seed":1}"#)?.save(dir)?;
    Ok(trainer)
}

#[test]
fn published_models_load_as_they_were_saved() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    for variant in Variant::ALL {
        let cfg = tiny(variant);
        let sub = dir.path().join(format!("{variant:?}"));
        let trainer = publish(&sub, &cfg, 5)?;
        let loaded = Published::load(&sub, &Device::Cpu)?;
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
    // Where the weights came from is in the file's header.
    let bytes = std::fs::read(dir.path().join("Full").join(Published::WEIGHTS)).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = header.metadata().clone().unwrap();
    let get = |k: &str| metadata.get(k).map(String::as_str);
    assert_eq!((get("stage"), get("key"), get("step"), get("params")), (Some("train"), Some("0123"), Some("0"), Some(r#"{"seed":1}"#)));
    Ok(())
}

#[test]
fn load_errors_name_the_file_and_the_problem() -> Result<()> {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let cfg = tiny(Variant::Full);
    publish(&full, &cfg, 1)?;
    // A copy of the full model's folder with `file` replaced by `contents` (or removed).
    let case = |name: &str, file: &str, contents: Option<&[u8]>| -> std::path::PathBuf {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in [Published::WEIGHTS, Published::CONFIG] {
            std::fs::copy(full.join(f), d.join(f)).unwrap();
        }
        match contents {
            Some(c) => std::fs::write(d.join(file), c).unwrap(),
            None => std::fs::remove_file(d.join(file)).unwrap(),
        }
        d
    };
    let load = |d: &Path| err_text(Published::load(d, &Device::Cpu));

    let e = load(&case("no_weights", Published::WEIGHTS, None));
    assert!(e.contains("no_weights/model.safetensors") && e.contains("no such file"), "{e}");
    let e = load(&case("no_config", Published::CONFIG, None));
    assert!(e.contains("no_config/config.json") && e.contains("cannot read"), "{e}");

    let e = load(&case("unknown_field", Published::CONFIG, Some(br#"{"vocab_size": 60, "hidden_size": 3}"#)));
    assert!(e.contains("unknown_field/config.json") && e.contains("hidden_size"), "{e}");
    let e = load(&case("invalid", Published::CONFIG, Some(br#"{"vocab_size": 60, "depth": 7}"#)));
    assert!(e.contains("invalid/config.json") && e.contains("depth 7"), "{e}");

    let e = load(&case("garbage", Published::WEIGHTS, Some(b"not a safetensors file")));
    assert!(e.contains("garbage/model.safetensors") && e.contains("safetensors"), "{e}");

    // another vocabulary size: the embedding is the first mismatch met, both shapes named
    let other = serde_json::to_vec(&IammConfig { vocab_size: 61, ..cfg.clone() }).unwrap();
    let e = load(&case("vocab", Published::CONFIG, Some(&other)));
    assert!(e.contains("embedding.lut.weight") && e.contains("[60, 16]") && e.contains("[61, 16]"), "{e}");

    // weights of the full model under a w/o WS configuration: the selector's tensors are extra
    let ws = serde_json::to_vec(&tiny(Variant::WithoutWS)).unwrap();
    let e = load(&case("extra", Published::CONFIG, Some(&ws)));
    assert!(e.contains("not part of the model") && e.contains("rel_decoder."), "{e}");

    // weights of w/o WS under the full configuration: a needed tensor is missing
    let sub = dir.path().join("ws");
    publish(&sub, &tiny(Variant::WithoutWS), 1)?;
    std::fs::copy(full.join(Published::CONFIG), sub.join(Published::CONFIG)).unwrap();
    let e = load(&sub);
    assert!(e.contains("no tensor `") && e.contains("ws/config.json"), "{e}");
    Ok(())
}
