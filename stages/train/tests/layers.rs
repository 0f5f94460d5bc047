//! The building blocks against hand-computed values and their masking behaviour.

use candle_core::{D, DType, Device, IndexOp, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use iamm_train::IammConfig;
use iamm_train::model::layers::{
    Conv3, ConvFfn, Decoder, Embedding, EmotionHead, Encoder, LayerNorm, MultiHeadAttention, causal_mask, timing_signal,
};

fn vb(varmap: &VarMap) -> VarBuilder<'_> {
    VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu)
}

fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b)?.abs()?.max_all()?.to_scalar::<f32>()
}

fn cfg() -> IammConfig {
    IammConfig::tiny(40)
}

#[test]
fn timing_signal_is_concatenated_sin_cos() -> Result<()> {
    let t = timing_signal(3000, 300, DType::F64, &Device::Cpu)?;
    assert_eq!(t.dims(), &[3000, 300]);
    let inc = (1e4f64).ln() / 149.0;
    for (p, i) in [(0usize, 0usize), (1, 0), (7, 3), (2999, 149), (123, 75)] {
        let inv = (-(i as f64) * inc).exp();
        let s = t.i((p, i))?.to_scalar::<f64>()?;
        let c = t.i((p, 150 + i))?.to_scalar::<f64>()?;
        assert!((s - (p as f64 * inv).sin()).abs() < 1e-12);
        assert!((c - (p as f64 * inv).cos()).abs() < 1e-12);
    }
    // odd width: a zero last column
    let t = timing_signal(4, 5, DType::F32, &Device::Cpu)?;
    assert_eq!(t.i((.., 4))?.to_vec1::<f32>()?, vec![0.0; 4]);
    Ok(())
}

#[test]
fn layer_norm_uses_unbiased_std_plus_eps() -> Result<()> {
    let varmap = VarMap::new();
    let ln = LayerNorm::new(vb(&varmap).pp("ln"), 4)?;
    let x = Tensor::new(&[[1f32, 2., 3., 4.], [5., 5., 5., 5.]], &Device::Cpu)?;
    let y = ln.forward(&x)?.to_vec2::<f32>()?;
    let std = (5.0f32 / 3.0).sqrt();
    for (i, v) in [1f32, 2., 3., 4.].iter().enumerate() {
        assert!((y[0][i] - (v - 2.5) / (std + 1e-6)).abs() < 1e-6);
    }
    assert_eq!(y[1], vec![0.0; 4]); // constant row: 0 / (0 + eps)
    Ok(())
}

#[test]
fn embedding_is_scaled_by_sqrt_d() -> Result<()> {
    let varmap = VarMap::new();
    let e = Embedding::new(vb(&varmap).pp("embedding"), 10, 16)?;
    let ids = Tensor::new(&[[3u32, 1], [9, 0]], &Device::Cpu)?;
    let y = e.forward(&ids, None)?;
    assert_eq!(y.dims(), &[2, 2, 16]);
    let expect = (e.weight.i(9)? * 4.0)?;
    assert!(max_diff(&y.i((1, 0))?, &expect)? < 1e-6);
    Ok(())
}

#[test]
fn attention_ignores_masked_keys() -> Result<()> {
    let varmap = VarMap::new();
    let mha = MultiHeadAttention::new(vb(&varmap).pp("mha"), 16, 8, 2)?;
    let dev = Device::Cpu;
    let q = Tensor::randn(0f32, 1.0, (2, 3, 16), &dev)?;
    let kv = Tensor::randn(0f32, 1.0, (2, 5, 16), &dev)?;
    let mask = Tensor::new(&[[0u8, 0, 0, 1, 1], [0, 1, 0, 0, 0]], &dev)?.reshape((2, 1, 1, 5))?;
    let (y, logits) = mha.forward(&q, &kv, Some(&mask), true)?;
    // change the masked keys' content
    let noise = Tensor::randn(0f32, 5.0, (2, 5, 16), &dev)?;
    let keep = Tensor::new(&[[1f32, 1., 1., 0., 0.], [1., 0., 1., 1., 1.]], &dev)?.reshape((2, 5, 1))?;
    let kv2 = (kv.broadcast_mul(&keep)? + noise.broadcast_mul(&keep.affine(-1.0, 1.0)?)?)?;
    let (y2, _) = mha.forward(&q, &kv2, Some(&mask), true)?;
    assert!(max_diff(&y, &y2)? < 1e-6);
    // the returned logits: head mean, masked entries -1e18
    let l = logits.unwrap();
    assert_eq!(l.dims(), &[2, 3, 5]);
    assert_eq!(l.i((0, 1, 4))?.to_scalar::<f32>()?, -1e18);
    assert!(l.i((0, 1, 2))?.to_scalar::<f32>()?.abs() < 1e3);
    // a fully masked row attends uniformly (torch's softmax over equal -1e18 logits)
    let all = Tensor::ones((2, 1, 1, 5), DType::U8, &dev)?;
    let (ya, _) = mha.forward(&q, &kv, Some(&all), false)?;
    let v = mha.value.forward(&kv)?.mean_keepdim(1)?; // uniform weights: mean of the values
    let expect = mha.output.forward(&v)?.broadcast_as(ya.shape())?;
    assert!(max_diff(&ya, &expect)? < 1e-5);
    Ok(())
}

#[test]
#[allow(clippy::needless_range_loop)]
fn conv_ffn_is_kernel_3_with_relu_after_both_convs() -> Result<()> {
    let varmap = VarMap::new();
    let dev = Device::Cpu;
    let conv = Conv3::new(vb(&varmap).pp("c"), 4, 3, false)?;
    let x = Tensor::randn(0f32, 1.0, (2, 6, 4), &dev)?;
    let y = conv.forward(&x)?;
    // direct convolution, padding (1, 1)
    let w = conv.weight.to_vec3::<f32>()?;
    let b = conv.bias.to_vec1::<f32>()?;
    let xv = x.to_vec3::<f32>()?;
    let yv = y.to_vec3::<f32>()?;
    for bi in 0..2 {
        for t in 0..6 {
            for o in 0..3 {
                let mut s = b[o];
                for j in 0..3 {
                    let p = t as isize + j as isize - 1;
                    if (0..6).contains(&p) {
                        for c in 0..4 {
                            s += w[o][c][j] * xv[bi][p as usize][c];
                        }
                    }
                }
                assert!((s - yv[bi][t][o]).abs() < 1e-5);
            }
        }
    }
    // causal: output t never sees t+1
    let causal = Conv3::new(vb(&varmap).pp("cc"), 4, 3, true)?;
    let y = causal.forward(&x)?;
    let x2 = Tensor::cat(&[x.narrow(1, 0, 4)?, Tensor::randn(0f32, 1.0, (2, 2, 4), &dev)?], 1)?;
    let y2 = causal.forward(&x2)?;
    assert!(max_diff(&y.narrow(1, 0, 4)?, &y2.narrow(1, 0, 4)?)? == 0.0);
    assert!(max_diff(&y.narrow(1, 4, 2)?, &y2.narrow(1, 4, 2)?)? > 0.0);
    let ffn = ConvFfn::new(vb(&varmap).pp("f"), 4, 5, false)?;
    assert!(ffn.forward(&x)?.min_all()?.to_scalar::<f32>()? >= 0.0);
    Ok(())
}

#[test]
fn encoder_masks_padding_in_attention_but_its_convolution_sees_two_neighbours() -> Result<()> {
    let varmap = VarMap::new();
    let c = cfg();
    let timing = timing_signal(c.max_positions, c.hidden_dim, DType::F32, &Device::Cpu)?;
    let enc = Encoder::new(vb(&varmap).pp("encoder"), &c, &timing)?;
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (1, 9, 16), &dev)?;
    let pad = Tensor::new(&[[0u8, 0, 0, 0, 0, 0, 1, 1, 1]], &dev)?;
    let y = enc.forward(&x, &pad)?;
    let x2 = Tensor::cat(&[x.narrow(1, 0, 6)?, Tensor::randn(0f32, 3.0, (1, 3, 16), &dev)?], 1)?;
    let y2 = enc.forward(&x2, &pad)?;
    // positions more than 2 before the padding are untouched (attention masks PAD keys)
    assert!(max_diff(&y.narrow(1, 0, 4)?, &y2.narrow(1, 0, 4)?)? < 1e-6);
    // the last two real positions see the PAD positions through the kernel-3 convolutions,
    // exactly as the reference (its FFN has no mask)
    assert!(max_diff(&y.narrow(1, 5, 1)?, &y2.narrow(1, 5, 1)?)? > 1e-4);
    // the prefix evaluation used for COMET equals the full one
    for keep in [1, 2, 5] {
        let p = enc.forward_prefix(&x, &pad, keep)?;
        assert!(max_diff(&p, &y.narrow(1, 0, keep)?)? < 1e-5, "keep {keep}");
    }
    Ok(())
}

#[test]
fn decoder_is_causal_and_masks_padded_memory() -> Result<()> {
    let varmap = VarMap::new();
    let c = cfg();
    let timing = timing_signal(c.max_positions, c.hidden_dim, DType::F32, &Device::Cpu)?;
    let dec = Decoder::new(vb(&varmap).pp("decoder"), &c, &timing)?;
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (2, 6, 16), &dev)?;
    let trg_pad = Tensor::zeros((2, 6), DType::U8, &dev)?;
    let mem = Tensor::randn(0f32, 1.0, (2, 7, 16), &dev)?;
    let src_pad = Tensor::new(&[[0u8, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1]], &dev)?;
    let (y, attn) = dec.forward(&x, &trg_pad, &mem, &src_pad)?;
    assert_eq!(attn.dims(), &[2, 6, 7]);
    assert_eq!(attn.i((0, 2, 5))?.to_scalar::<f32>()?, -1e18);
    // the future does not leak
    let x2 = Tensor::cat(&[x.narrow(1, 0, 3)?, Tensor::randn(0f32, 1.0, (2, 3, 16), &dev)?], 1)?;
    let (y2, _) = dec.forward(&x2, &trg_pad, &mem, &src_pad)?;
    assert_eq!(max_diff(&y.narrow(1, 0, 3)?, &y2.narrow(1, 0, 3)?)?, 0.0);
    assert!(max_diff(&y.narrow(1, 3, 3)?, &y2.narrow(1, 3, 3)?)? > 1e-4);
    // padded memory positions do not matter
    let mem2 = Tensor::cat(&[mem.narrow(1, 0, 4)?, (mem.narrow(1, 4, 3)? * 7.0)?], 1)?;
    let src_pad0 = Tensor::new(&[[0u8, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 1]], &dev)?;
    let (a, _) = dec.forward(&x, &trg_pad, &mem, &src_pad0)?;
    let (b, _) = dec.forward(&x, &trg_pad, &mem2, &src_pad0)?;
    assert!(max_diff(&a, &b)? < 1e-6);
    assert_eq!(causal_mask(3, &dev)?.to_vec2::<u8>()?, vec![vec![0, 1, 1], vec![0, 0, 1], vec![0, 0, 0]]);
    Ok(())
}

#[test]
fn emotion_head_pools_every_position_unmasked() -> Result<()> {
    let varmap = VarMap::new();
    let head = EmotionHead::new(vb(&varmap), 16, 32, "2")?;
    let h = Tensor::randn(0f32, 1.0, (2, 5, 16), &Device::Cpu)?;
    let y = head.forward(&h)?;
    assert_eq!(y.dims(), &[2, 32]);
    // by hand
    let s = head.v.forward(&head.attention.forward(&h)?.tanh()?)?.squeeze(2)?;
    let a = candle_nn::ops::softmax(&s, D::Minus1)?;
    let p = a.unsqueeze(2)?.broadcast_mul(&h)?.sum(1)?;
    let expect = head.output.forward(&head.hidden.forward(&p)?.tanh()?)?;
    assert!(max_diff(&y, &expect)? < 1e-5);
    Ok(())
}
