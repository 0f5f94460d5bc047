#!/usr/bin/env python3
"""PyTorch `generate` baseline for the COMET stage, on a BART-large-shaped RANDOM model.

    bench_pytorch.py WORK_DIR [--threads N] [--int8] [--ort] [--skip-build]

1. builds a random BART with BART-large's shape (d_model 1024, 12+12 layers, 16 heads,
   ffn 4096, vocab 50265) and a byte-level BPE tokenizer padded to the same vocabulary,
   and saves it as a checkpoint in WORK_DIR/checkpoint (~1.6 GB, pytorch_model.bin);
2. exports it with export_onnx.py to WORK_DIR/onnx-fp32 (and WORK_DIR/onnx-int8 with --int8);
3. times PyTorch `generate` (5 beams, 5 returned sequences) on ~20 ED-like COMET queries at
   batch 1 and batch 8 with torch.set_num_threads(N), and prints queries/s;
4. with --ort, times optimum's ORTModelForSeq2SeqLM (the same HF generation loop on ONNX
   Runtime, intra-op threads N) on the exported folder(s) the same way.

The Rust stage can then be timed on WORK_DIR/onnx-fp32 (or onnx-int8) with the same queries
(written to WORK_DIR/queries.txt) and the same generation settings (generation_config.json).
WORK_DIR holds gigabytes of weights: keep it outside the repository (e.g. /tmp/comet-bench).

The weights are random (init std 0.02, so next-token distributions are nearly flat and EOS
is practically never chosen): every hypothesis runs to max_length (default 12, i.e. 11
decoder steps per query, about what COMET's short outputs take), so every engine does the
same number of steps. (--eos-bias > ~5 makes EOS win at the first allowed step instead.)
The mean returned length is printed: compare engines only on the same exported model.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
warnings.filterwarnings("ignore")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VOCAB = 50265
GEN = dict(num_beams=5, max_length=24, min_length=3, no_repeat_ngram_size=3, length_penalty=1.0,
           early_stopping=True)
SPECIAL_IDS = dict(bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2,
                   forced_bos_token_id=0, forced_eos_token_id=2)


def build_tokenizer(rows):
    """Byte-level BPE trained on the demo corpus, its vocabulary padded with filler entries
    to VOCAB ids in all (COMET's relation tokens and [GEN] among the last ones)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers, processors
    from transformers import BartTokenizerFast

    import make_fixture as mf

    small = mf.train_tokenizer(rows)  # BPE of the demo corpus + relation tokens
    state = json.loads(small.backend_tokenizer.to_str())
    vocab = dict(state["model"]["vocab"])
    merges = state["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]
    added = mf.RELATIONS + [mf.GEN_TOKEN]
    i = 0
    while len(vocab) < VOCAB - len(added):
        vocab[f"\u0120filler{i}"] = len(vocab)
        i += 1
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = small.backend_tokenizer.decoder
    tok.add_special_tokens([AddedToken(t, special=True) for t in added])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=False)
    fast = BartTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", add_prefix_space=False,
        trim_offsets=True, model_max_length=1024, additional_special_tokens=added,
    )
    assert len(fast) == VOCAB, len(fast)
    return fast


def build_checkpoint(ckpt: Path, tokenizer, eos_bias: float, seed: int):
    import torch
    from transformers import BartConfig, BartForConditionalGeneration, GenerationConfig

    cfg = BartConfig(
        vocab_size=VOCAB, d_model=1024, encoder_layers=12, decoder_layers=12,
        encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
        decoder_ffn_dim=4096, max_position_embeddings=1024, scale_embedding=False,
        task_specific_params={"summarization": dict(GEN)}, **SPECIAL_IDS,
    )
    torch.manual_seed(seed)
    model = BartForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.final_logits_bias[0, SPECIAL_IDS["eos_token_id"]] += eos_bias
    model.generation_config = GenerationConfig(**SPECIAL_IDS, **GEN)
    ckpt.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(ckpt), safe_serialization=False)
    tokenizer.save_pretrained(str(ckpt))
    return model


def queries(n):
    import make_fixture as mf

    qs = [q["query"] for q in mf.build_queries(mf.corpus_rows()) if q["kind"] == "corpus"]
    return qs[:n]


def time_generate(model, tokenizer, qs, batch, label):
    import torch

    lens = []

    def run(chunk):
        enc = tokenizer(chunk, return_tensors="pt", truncation=True, padding=True)
        with torch.no_grad():
            out = model.generate(**enc, num_return_sequences=5, **GEN, **SPECIAL_IDS)
        return out

    run(qs[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(qs), batch):
        out = run(qs[i:i + batch])
        for s in out.tolist():
            n = next((j for j in range(1, len(s)) if s[j] == 2), len(s) - 1)
            lens.append(n + 1)
    dt = time.perf_counter() - t0
    print(f"{label:<34} batch {batch:>2}: {len(qs)} queries in {dt:7.2f} s = {len(qs) / dt:6.2f} queries/s "
          f"({dt / len(qs) * 1000:7.1f} ms/query), mean returned length {statistics.mean(lens):.1f} tokens",
          flush=True)
    return len(qs) / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work_dir", help="scratch folder for the checkpoint and ONNX exports (outside git)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads / ORT intra-op threads")
    ap.add_argument("--int8", action="store_true", help="also export (and with --ort time) an int8 copy")
    ap.add_argument("--ort", action="store_true", help="also time optimum ORTModelForSeq2SeqLM.generate")
    ap.add_argument("--queries", type=int, default=20)
    ap.add_argument("--batch-sizes", default="1,8")
    ap.add_argument("--eos-bias", type=float, default=0.0,
                    help="added to the EOS logit bias of the random model (0: hypotheses run to max_length)")
    ap.add_argument("--max-length", type=int, default=12,
                    help="generation max_length written to the export's generation_config.json and used "
                    "here (12: 11 decoder steps per query, about what COMET's short outputs take)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-build", action="store_true", help="reuse WORK_DIR/checkpoint and exports")
    ap.add_argument("--skip-torch", action="store_true", help="do not time PyTorch")
    args = ap.parse_args()

    import torch
    from transformers import BartForConditionalGeneration, BartTokenizerFast
    from transformers.utils import logging as hf_logging

    import export_onnx
    import make_fixture as mf

    hf_logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    GEN["max_length"] = args.max_length
    work = Path(args.work_dir)
    ckpt = work / "checkpoint"
    fp32, int8 = work / "onnx-fp32", work / "onnx-int8"

    if not args.skip_build:
        t = time.perf_counter()
        tok = build_tokenizer(mf.corpus_rows())
        build_checkpoint(ckpt, tok, args.eos_bias, args.seed)
        print(f"checkpoint: {ckpt} ({time.perf_counter() - t:.0f} s)", flush=True)
        t = time.perf_counter()
        export_onnx.export(ckpt, fp32, merged_only=True, validate=False, allow_in_git=True)
        print(f"fp32 export: {fp32} ({time.perf_counter() - t:.0f} s)", flush=True)
        if args.int8:
            t = time.perf_counter()
            export_onnx.quantize_folder(fp32, int8, allow_in_git=True)
            print(f"int8 export: {int8} ({time.perf_counter() - t:.0f} s)", flush=True)

    qs = queries(args.queries)
    (work / "queries.txt").write_text("\n".join(qs) + "\n", encoding="utf-8")
    tok = BartTokenizerFast.from_pretrained(str(fp32 if fp32.is_dir() else ckpt))
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(f"\n{len(qs)} queries (WORK_DIR/queries.txt), 5 beams x 5 returned, {GEN}, "
          f"threads {args.threads}, torch {torch.__version__}", flush=True)

    if not args.skip_torch:
        model = BartForConditionalGeneration.from_pretrained(str(ckpt)).eval()
        for b in batches:
            time_generate(model, tok, qs, b, "PyTorch fp32")
        del model

    if args.ort:
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForSeq2SeqLM

        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        for label, d in [("optimum+ORT fp32", fp32), ("optimum+ORT int8", int8)]:
            if not d.is_dir():
                continue
            m = ORTModelForSeq2SeqLM.from_pretrained(str(d), use_cache=True, session_options=so,
                                                     provider="CPUExecutionProvider")
            for b in batches:
                time_generate(m, tok, qs, b, label)
            del m
    return 0


if __name__ == "__main__":
    sys.exit(main())
