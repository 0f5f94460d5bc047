#!/usr/bin/env python3
"""Export a seq2seq (BART) checkpoint folder to ONNX for iamm-pipe's COMET stage.

Usage:
    export_onnx.py CHECKPOINT_DIR OUT_DIR [--int8] [--task summarization] [--merged-only]
    export_onnx.py FP32_EXPORT_DIR OUT_DIR --int8 --from-onnx     # quantize an existing export

CHECKPOINT_DIR is a local Hugging Face checkpoint folder, for example the unzipped
COMET-ATOMIC 2020 BART release
(https://storage.googleapis.com/ai2-mosaic-public/projects/mosaic-kgs/comet-atomic_2020_BART.zip):
config.json, pytorch_model.bin (or model.safetensors) and the tokenizer files
(tokenizer.json, or the slow GPT-2/BART pair vocab.json + merges.txt, with
added_tokens.json / special_tokens_map.json / tokenizer_config.json when present).
Nothing is fetched from the network: the script sets HF_HUB_OFFLINE=1.

OUT_DIR receives optimum's `text2text-generation-with-past` layout:

    encoder_model.onnx            input_ids, attention_mask -> last_hidden_state
    decoder_model_merged.onnx     one decoder graph with a `use_cache_branch` input
    decoder_model.onnx            (first step, no past)      } also written when
    decoder_with_past_model.onnx  (later steps, with past)   } optimum produces them
    config.json                   the model config (incl. task_specific_params)
    generation_config.json        generation defaults (see --task)
    tokenizer.json                fast tokenizer (converted from the slow files if
                                  needed; added tokens such as COMET's relation
                                  tokens and [GEN] are kept)
    tokenizer_config.json, special_tokens_map.json (and whatever else the tokenizer saves)
    export_info.json              versions and arguments used for this export
    SHA256SUMS                    sha256 of every other file, `sha256sum -c` format

--int8      quantize every ONNX graph with onnxruntime.quantization.quantize_dynamic
            (int8 weights, dynamic int8 activations for MatMul/Gemm/...). The files keep
            the same names, so OUT_DIR is a drop-in replacement for the fp32 folder.
--task NAME merge config.task_specific_params[NAME] into generation_config.json, as
            the COMET reference does (`use_task_specific_params(model, "summarization")`)
            before generating. Without --task, generation_config.json holds the model's
            own defaults. The ONNX graphs are the same either way.

--merged-only  write only encoder_model.onnx and decoder_model_merged.onnx.
--strip-added-token-spaces  make the checkpoint's plain (non-special) added tokens eat the
            whitespace around them, as transformers' old slow tokenizers did by default
            (transformers 4.46 keeps " " before/after "xIntent"/"[GEN]" as separate tokens).
            Decide which tokenization the reproduction needs; the default keeps 4.46's.

Exporting the same checkpoint twice gives byte-identical files (initializer names that
torch.onnx numbers by a run-dependent counter are renamed after their first consumer).

The model weights are large (BART-large: ~1.6 GB fp32): keep OUT_DIR out of git. The
script refuses to write a large export into an un-ignored folder of a git work tree
unless --allow-in-git is given.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ONNX_FILES = [
    "encoder_model.onnx",
    "decoder_model_merged.onnx",
    "decoder_model.onnx",
    "decoder_with_past_model.onnx",
]
REQUIRED_ONNX = ["encoder_model.onnx", "decoder_model_merged.onnx"]
WEIGHT_FILES = [
    "pytorch_model.bin",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "model.safetensors.index.json",
]
LARGE_EXPORT_BYTES = 20 * 1024 * 1024


class ExportError(Exception):
    pass


def log(msg):
    print(f"[export_onnx] {msg}", file=sys.stderr, flush=True)


def check_checkpoint(ckpt: Path, task=None):
    if not ckpt.exists():
        raise ExportError(f"checkpoint folder {ckpt} does not exist")
    if not ckpt.is_dir():
        raise ExportError(f"{ckpt} is not a folder (give the unzipped checkpoint folder)")
    if not (ckpt / "config.json").is_file():
        hint = ""
        subs = [p for p in ckpt.iterdir() if p.is_dir() and (p / "config.json").is_file()]
        if subs:
            hint = f" (did you mean {subs[0]}?)"
        raise ExportError(f"{ckpt}/config.json is missing{hint}")
    if not any((ckpt / w).is_file() for w in WEIGHT_FILES):
        raise ExportError(
            f"no model weights in {ckpt}: expected one of {', '.join(WEIGHT_FILES)}"
        )
    has_fast = (ckpt / "tokenizer.json").is_file()
    has_slow = (ckpt / "vocab.json").is_file() and (ckpt / "merges.txt").is_file()
    if not (has_fast or has_slow):
        raise ExportError(
            f"no tokenizer in {ckpt}: expected tokenizer.json, or vocab.json + merges.txt"
        )
    with open(ckpt / "config.json") as f:
        cfg = json.load(f)
    if not cfg.get("is_encoder_decoder", cfg.get("model_type") in ("bart", "t5", "mbart", "marian", "pegasus")):
        raise ExportError(
            f"{ckpt}/config.json does not describe an encoder-decoder model "
            f"(model_type={cfg.get('model_type')!r})"
        )
    if task is not None:
        tsp = cfg.get("task_specific_params") or {}
        if task not in tsp:
            raise ExportError(
                f"--task {task}: {ckpt}/config.json has no task_specific_params[{task!r}] "
                f"(available: {sorted(tsp) or 'none'})"
            )
    return cfg


def check_out_dir(out: Path, allow_in_git: bool, expected_bytes: int):
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if allow_in_git or expected_bytes < LARGE_EXPORT_BYTES:
        return
    probe = out if out.exists() else out.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(probe), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=False,
        )
    except FileNotFoundError:
        return
    if top.returncode != 0:
        return
    ignored = subprocess.run(
        ["git", "-C", top.stdout.strip(), "check-ignore", "-q", str(out.resolve()) + "/x.onnx"],
        capture_output=True, check=False,
    )
    if ignored.returncode != 0:
        raise ExportError(
            f"{out} is inside the git work tree {top.stdout.strip()} and not ignored; "
            f"the export will be ~{expected_bytes / 1e6:.0f} MB of weights that must stay out "
            "of git. Choose a folder outside the repository (or an ignored one such as "
            "artifacts/), or pass --allow-in-git."
        )


def weights_bytes(ckpt: Path) -> int:
    return sum(
        p.stat().st_size for p in ckpt.iterdir()
        if p.is_file() and p.suffix in (".bin", ".safetensors")
    )


def export_fp32(ckpt: Path, dest: Path, opset, validate: bool, atol):
    from optimum.exporters.onnx import main_export

    log(f"exporting {ckpt} -> {dest} (task text2text-generation-with-past)")
    kwargs = {}
    if opset is not None:
        kwargs["opset"] = opset
    if atol is not None:
        kwargs["atol"] = atol
    main_export(
        model_name_or_path=str(ckpt),
        output=str(dest),
        task="text2text-generation-with-past",
        library_name="transformers",
        local_files_only=True,
        do_validation=validate,
        device="cpu",
        **kwargs,
    )
    missing = [f for f in REQUIRED_ONNX if not (dest / f).is_file()]
    if missing:
        raise ExportError(f"optimum did not produce {', '.join(missing)} (got {sorted(os.listdir(dest))})")


def save_tokenizer(ckpt: Path, out: Path, strip_added_token_spaces=False):
    """Save a fast tokenizer (tokenizer.json) for the checkpoint into `out`."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ckpt), use_fast=True)
    if not tok.is_fast:
        raise ExportError(f"could not build a fast tokenizer for {ckpt}")
    if strip_added_token_spaces:
        # transformers' old slow tokenizers stripped the whitespace on both sides of a plain
        # added token ("... mall xIntent [GEN]" -> "Ġmall", "xIntent", "[GEN]"); 4.x fast
        # tokenizers keep it as separate "Ġ" tokens unless the AddedToken says lstrip/rstrip.
        from tokenizers import AddedToken

        changed = []
        for idx, at in sorted(tok.added_tokens_decoder.items()):
            if at.special:
                continue
            new = AddedToken(at.content, single_word=at.single_word, lstrip=True, rstrip=True,
                             normalized=at.normalized, special=False)
            tok._tokenizer.add_tokens([new])
            changed.append(at.content)
        log(f"added tokens now strip surrounding whitespace: {changed}")
    tok.save_pretrained(str(out))
    if not (out / "tokenizer.json").is_file():
        raise ExportError("the tokenizer did not save a tokenizer.json")

    # Parity check against the slow tokenizer when the checkpoint has one.
    if (ckpt / "vocab.json").is_file() and (ckpt / "merges.txt").is_file():
        try:
            slow = AutoTokenizer.from_pretrained(str(ckpt), use_fast=False)
        except Exception as e:  # pragma: no cover - diagnostic only
            log(f"note: slow tokenizer not loadable for the parity check ({e})")
            slow = None
        if slow is not None:
            samples = [
                "PersonX goes to the mall xIntent [GEN]",
                "i found an old letter from my dad in a drawer . xReact [GEN]",
                "caf\u00e9 \u2019 \U0001F600 xNeed [GEN]",
                "",
            ]
            for s in samples:
                a = tok(s)["input_ids"]
                b = slow(s)["input_ids"]
                if a != b:
                    if strip_added_token_spaces:
                        log(f"note: with --strip-added-token-spaces, {s!r} -> {a} "
                            f"(transformers {transformers_version()} slow tokenizer: {b})")
                    else:
                        log(f"WARNING: fast and slow tokenizers differ on {s!r}: {a} vs {b}")
    added = tok.get_added_vocab()
    log(f"tokenizer: {type(tok).__name__}, {len(tok)} tokens, {len(added)} added/special tokens")
    return tok


def write_generation_config(ckpt: Path, out: Path, task):
    from transformers import AutoConfig, GenerationConfig

    config = AutoConfig.from_pretrained(str(ckpt))
    if (ckpt / "generation_config.json").is_file():
        gen = GenerationConfig.from_pretrained(str(ckpt))
    else:
        gen = GenerationConfig.from_model_config(config)
    if task:
        tsp = getattr(config, "task_specific_params", None) or {}
        if task not in tsp:
            raise ExportError(
                f"--task {task}: config.json has no task_specific_params[{task!r}] "
                f"(available: {sorted(tsp)})"
            )
        log(f"merging task_specific_params[{task!r}] into generation_config.json: {tsp[task]}")
        for k, v in tsp[task].items():
            setattr(gen, k, v)
    gen.save_pretrained(str(out))
    config.save_pretrained(str(out))
    # drop the local path transformers records (keeps exports of the same checkpoint identical)
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("_name_or_path", None)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


_UNSTABLE_NAME = re.compile(r"^onnx::[A-Za-z]+_(\d+)(.*)$")


def _all_graphs(graph):
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx_attr_type("GRAPH"):
                yield from _all_graphs(attr.g)
            elif attr.type == onnx_attr_type("GRAPHS"):
                for g in attr.graphs:
                    yield from _all_graphs(g)


def onnx_attr_type(name):
    import onnx

    return getattr(onnx.AttributeProto, name)


def canonicalize_names(path: Path):
    """Rename the initializers that torch.onnx names by a run-dependent counter
    ("onnx::MatMul_699_merged_0") after their first consumer node, so that exporting the
    same checkpoint twice gives byte-identical files. Skipped for models with external data."""
    import onnx

    if path.stat().st_size > 1_800_000_000 or any(path.parent.glob(path.name + "_data*")) or any(
        path.parent.glob(path.name + ".data")
    ):
        return
    model = onnx.load(str(path), load_external_data=False)
    graphs = list(_all_graphs(model.graph))
    if any(init.data_location == onnx.TensorProto.EXTERNAL for g in graphs for init in g.initializer):
        return
    first_consumer = {}
    for g in graphs:
        for node in g.node:
            for name in node.input:
                first_consumer.setdefault(name, node.name)
    existing = {i.name for g in graphs for i in g.initializer} | {
        n for g in graphs for node in g.node for n in list(node.input) + list(node.output)
    }
    rename = {}
    for g in graphs:
        for init in g.initializer:
            m = _UNSTABLE_NAME.match(init.name)
            if not m or init.name not in first_consumer:
                continue
            base = f"{first_consumer[init.name]}.weight{m.group(2)}"
            new, k = base, 1
            while new in existing or new in rename.values():
                k += 1
                new = f"{base}.{k}"
            rename[init.name] = new
    if not rename:
        return
    for g in graphs:
        for init in g.initializer:
            init.name = rename.get(init.name, init.name)
        for node in g.node:
            for i, name in enumerate(node.input):
                if name in rename:
                    node.input[i] = rename[name]
        for vi in list(g.input) + list(g.output) + list(g.value_info):
            vi.name = rename.get(vi.name, vi.name)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def quantize_int8(src: Path, dst: Path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    big = src.stat().st_size + sum(
        p.stat().st_size for p in src.parent.iterdir() if p.name.startswith(src.name + "_data")
    ) > 1_800_000_000
    log(f"quantizing {src.name} to int8{' (external data)' if big else ''}")
    quantize_dynamic(
        model_input=str(src),
        model_output=str(dst),
        weight_type=QuantType.QInt8,
        per_channel=False,
        reduce_range=False,
        use_external_data_format=big,
        extra_options={"EnableSubgraph": True},
    )


def describe_onnx(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ins = ", ".join(f"{i.name}{list(i.shape)}:{i.type}" for i in sess.get_inputs())
    outs = sess.get_outputs()
    shown = ", ".join(f"{o.name}{list(o.shape)}" for o in outs[:3])
    more = f" ... (+{len(outs) - 3})" if len(outs) > 3 else ""
    log(f"  {path.name}: inputs [{ins}]")
    log(f"  {path.name}: outputs [{shown}{more}]")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_sums(out: Path):
    lines = []
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != "SHA256SUMS":
            lines.append(f"{sha256_file(p)}  {p.relative_to(out).as_posix()}")
    (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return lines


def transformers_version():
    import transformers

    return transformers.__version__


def versions():
    import onnx
    import onnxruntime
    import optimum.version
    import tokenizers
    import torch
    import transformers

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "optimum": optimum.version.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
    }


def export(ckpt, out, int8=False, task=None, opset=None, validate=True, atol=None,
           allow_in_git=False, merged_only=False, strip_added_token_spaces=False):
    ckpt = Path(ckpt)
    out = Path(out)
    check_checkpoint(ckpt, task)
    check_out_dir(out, allow_in_git, weights_bytes(ckpt) // (4 if int8 else 1))
    out.mkdir(parents=True, exist_ok=True)
    for name in ONNX_FILES + ["SHA256SUMS"]:
        for p in out.glob(name + "*"):
            p.unlink()

    with tempfile.TemporaryDirectory(prefix="comet-onnx-") as tmp:
        tmp = Path(tmp)
        fp32 = tmp / "fp32"
        export_fp32(ckpt, fp32, opset, validate, atol)
        for name in ONNX_FILES:
            if (fp32 / name).is_file():
                canonicalize_names(fp32 / name)
        for name in ONNX_FILES:
            src = fp32 / name
            if not src.is_file() or (merged_only and name not in REQUIRED_ONNX):
                continue
            if int8:
                quantize_int8(src, out / name)
            else:
                shutil.copy2(src, out / name)
                for extra in fp32.glob(name + "_data*"):
                    shutil.copy2(extra, out / extra.name)
        # optimum also wrote config/tokenizer files; ours below take precedence
        for p in fp32.iterdir():
            if p.is_file() and not p.name.endswith(".onnx") and "_data" not in p.name:
                shutil.copy2(p, out / p.name)

    save_tokenizer(ckpt, out, strip_added_token_spaces)
    write_generation_config(ckpt, out, task)
    info = {
        "checkpoint": ckpt.resolve().name,
        "layout": "optimum text2text-generation-with-past",
        "int8": bool(int8),
        "quantization": (
            "onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=False, "
            "reduce_range=False, extra_options={'EnableSubgraph': True})" if int8 else None
        ),
        "task_specific_params_merged": task,
        "merged_only": bool(merged_only),
        "strip_added_token_spaces": bool(strip_added_token_spaces),
        "versions": versions(),
    }
    (out / "export_info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")

    log("ONNX Runtime load check:")
    for name in ONNX_FILES:
        if (out / name).is_file():
            describe_onnx(out / name)
    lines = write_sums(out)
    print(f"# {out}/SHA256SUMS")
    for line in lines:
        print(line)
    return out


def quantize_folder(fp32_dir, out, allow_in_git=False):
    """int8 copy of an existing fp32 export folder (same layout; no re-export)."""
    fp32_dir, out = Path(fp32_dir), Path(out)
    if not (fp32_dir / "encoder_model.onnx").is_file():
        raise ExportError(f"{fp32_dir} is not an ONNX export folder (no encoder_model.onnx)")
    check_out_dir(out, allow_in_git, sum(p.stat().st_size for p in fp32_dir.glob("*.onnx")) // 4)
    out.mkdir(parents=True, exist_ok=True)
    for p in fp32_dir.iterdir():
        if not p.is_file() or p.name == "SHA256SUMS" or "_data" in p.name:
            continue
        if p.suffix == ".onnx":
            quantize_int8(p, out / p.name)
        else:
            shutil.copy2(p, out / p.name)
    info_path = out / "export_info.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    info.update({
        "int8": True,
        "quantization": "onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=False, "
                        "reduce_range=False, extra_options={'EnableSubgraph': True})",
        "quantized_from": fp32_dir.resolve().name,
        "versions": versions(),
    })
    info_path.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    lines = write_sums(out)
    print(f"# {out}/SHA256SUMS")
    for line in lines:
        print(line)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Export a local seq2seq (BART/COMET) checkpoint folder to ONNX "
        "(optimum text2text-generation-with-past layout).",
    )
    ap.add_argument("checkpoint_dir", help="local checkpoint folder (config.json, weights, tokenizer files)")
    ap.add_argument("out_dir", help="output folder (created; ONNX files in it are replaced)")
    ap.add_argument("--int8", action="store_true", help="dynamic int8 quantization with onnxruntime")
    ap.add_argument("--task", default=None,
                    help="merge config.task_specific_params[TASK] into generation_config.json "
                    "(COMET uses 'summarization')")
    ap.add_argument("--opset", type=int, default=None, help="ONNX opset (default: optimum's)")
    ap.add_argument("--atol", type=float, default=None, help="validation tolerance (default: optimum's)")
    ap.add_argument("--no-validate", action="store_true",
                    help="skip optimum's PyTorch-vs-ONNX validation (faster for large models)")
    ap.add_argument("--merged-only", action="store_true",
                    help="write only encoder_model.onnx and decoder_model_merged.onnx "
                    "(not decoder_model.onnx / decoder_with_past_model.onnx)")
    ap.add_argument("--strip-added-token-spaces", action="store_true",
                    help="mark the checkpoint's non-special added tokens (COMET's relation tokens, "
                    "[GEN]) lstrip/rstrip in tokenizer.json: the whitespace around them is dropped, "
                    "as the slow tokenizers of old transformers releases did by default")
    ap.add_argument("--from-onnx", action="store_true",
                    help="with --int8: CHECKPOINT_DIR is an existing fp32 export folder of this script; "
                    "quantize it without exporting again")
    ap.add_argument("--allow-in-git", action="store_true",
                    help="allow writing a large export into an un-ignored folder of a git work tree")
    args = ap.parse_args(argv)
    try:
        if args.from_onnx:
            if not args.int8:
                raise ExportError("--from-onnx only makes sense with --int8")
            quantize_folder(args.checkpoint_dir, args.out_dir, allow_in_git=args.allow_in_git)
            return 0
        export(args.checkpoint_dir, args.out_dir, int8=args.int8, task=args.task, opset=args.opset,
               validate=not args.no_validate, atol=args.atol, allow_in_git=args.allow_in_git,
               merged_only=args.merged_only, strip_added_token_spaces=args.strip_added_token_spaces)
    except ExportError as e:
        print(f"export_onnx.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
