#!/usr/bin/env python3
"""Writes the reproduction record (results/reproduce-wo-ia/) from a finished run of
configs/reproduce-wo-ia.yaml. Needs pyarrow (`python3 -m pip install pyarrow`).

    python3 scripts/reproduce-record.py --bin BINARY --config configs/reproduce-wo-ia.yaml \
        --out results/reproduce-wo-ia --time-log run.time --commit COMMIT [--log run.log]

`run.time` is what GNU time -v printed for the run (peak memory, wall time)."""

import argparse
import csv
import json
import platform
import random
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq


def show(binary, config, stage):
    out = subprocess.run([binary, "-f", config, "show", stage, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def table(manifest, name):
    return pq.read_table(manifest["tables"][name]["path"]).to_pylist()


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})


def time_log(path):
    """Peak memory (GiB), total wall time (h) and the number of runs in an appended GNU time log:
    a resumed run appends one entry per process."""
    text = Path(path).read_text() if path and Path(path).exists() else ""
    rss = [int(m) for m in re.findall(r"Maximum resident set size \(kbytes\): (\d+)", text)]
    walls = re.findall(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    seconds = sum(sum(float(p) * 60**i for i, p in enumerate(reversed(w.split(":")))) for w in walls)
    return (max(rss) / 1024 / 1024 if rss else None), (seconds / 3600 if walls else None), len(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--time-log")
    ap.add_argument("--samples", type=int, default=50)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train = show(args.bin, args.config, "train_wo_ia")
    evaluate = show(args.bin, args.config, "evaluate_wo_ia")
    report = show(args.bin, args.config, "report")
    tokenize = show(args.bin, args.config, "tokenize")
    ingest = show(args.bin, args.config, "ingest")

    shutil.copy(Path(report["dir"]) / "report.md", out / "report.md")
    write_csv(out / "metrics.csv", table(evaluate, "metrics"))
    write_csv(out / "curve_steps.csv", table(train, "curve_steps"))
    write_csv(out / "curve_evals.csv", table(train, "curve_evals"))
    shutil.copy(Path(train["dir"]) / "curve.png", out / "curve.png")
    shutil.copy(Path(evaluate["dir"]) / "confusion.png", out / "confusion.png")

    responses = table(evaluate, "responses")
    rng = random.Random(42)
    sample = sorted(rng.sample(range(len(responses)), min(args.samples, len(responses))))
    with open(out / "samples.md", "w") as f:
        f.write(f"# {len(sample)} test responses of w/o IA beside the references\n\n")
        f.write("Drawn with Python's `random.Random(42).sample` over the test examples, in test order.\n\n")
        for i in sample:
            r = responses[i]
            f.write(f"## {r['example_id']} (gold {r['gold_emotion']}, predicted {r['pred_emotion']})\n\n")
            for role, utt in zip(r["context_roles"], r["context"]):
                f.write(f"- {role}: {utt}\n")
            f.write(f"\n**Reference:** {r['reference']}\n\n**w/o IA:** {r['generated']}\n\n")

    rss_gib, wall_h, runs = time_log(args.time_log)
    tstats, estats = train["stats"], evaluate["stats"]
    steps_per_s = tstats["steps"] / train["wall_time_s"] if train["wall_time_s"] else float("nan")
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    lines = [
        "# How this record was made",
        "",
        f"- Tool: iamm-pipe at git commit `{args.commit}` (release build).",
        f"- Command: `nice -n 19 iamm-pipe -f {args.config} run all` (then `python3 scripts/reproduce-record.py ...`).",
        f"- Machine: {platform.node() and 'the project machine'}, {cpu}, 2 cores, 24 GiB, CPU only, Linux {platform.release()}.",
        f"- Wall time of the whole run: {wall_h:.2f} h in {runs} process(es) (GNU time; a killed run resumes from"
        f" its last checkpoint; it shared the 2 cores with builds); peak memory {rss_gib:.2f} GiB."
        if rss_gib else "- Wall time / peak memory: not recorded.",
        f"- Training: {tstats['steps']} updates; the last process ran {train['wall_time_s'] / 3600:.2f} h"
        f" = {steps_per_s:.2f} steps/s over the whole count" if tstats["resumed_from_step"] is None else
        f"- Training: {tstats['steps']} updates; the last process resumed from step {tstats['resumed_from_step']}"
        f" and made {tstats['steps'] - tstats['resumed_from_step']} in {train['wall_time_s'] / 3600:.2f} h",
        f"- Selected: step {tstats['selected']['step']} (valid PPL {tstats['selected']['ppl']:.2f}, accuracy"
        f" {tstats['selected']['accuracy']:.4f}) by the `{train['params']['selection']}` rule.",
        f"- Evaluation: {estats.get('examples_per_s', float('nan')):.1f} test examples/s, peak RSS"
        f" {estats.get('peak_rss_mb', float('nan')):.0f} MB.",
        "",
        "## Artifacts",
        "",
        "| stage | key | wall time |",
        "|---|---|---:|",
    ]
    for m in (ingest, tokenize, train, evaluate, report):
        lines.append(f"| {m['stage']} | `{m['key']}` | {m['wall_time_s']:.1f} s |")
    lines += [
        "",
        "## Inputs",
        "",
        "- ED: `../shared/data/ed` (train/valid/test.csv as in the project's shared data).",
        "- Punkt: `../shared/data/golden/punkt_english_params` (NLTK's English parameters).",
        "- Vectors: `../shared/data/vectors/spacy-en-md.300d.ed-vocab.txt` (300-d spaCy `en_core_web_md`,"
        " restricted to ED words): GloVe 6B 300-d, the reference's choice, is not on this machine.",
        f"- Vocabulary {tokenize['stats'].get('vocab_size')} words, vector coverage"
        f" {tokenize['stats'].get('vectors', {}).get('percent', float('nan')):.2f}%.",
        "",
        "No model weights are committed; rerunning the command on the same commit gives the same bits.",
    ]
    (out / "RUN.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
