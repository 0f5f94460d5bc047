#!/usr/bin/env python3
"""Write the tiny SYNTHETIC emotion lexicons used by the demo's analysis stage.

Outputs (relative to the repository root):
  demo/lexicons/demo-emotion-intensity.txt   NRC Emotion Intensity Lexicon layout
  demo/lexicons/demo-vad.txt                 NRC VAD Lexicon (v1) layout
  demo/lexicons/README.md                    description and counts

The project does not ship the NRC lexicons (see README, "Associated-word analysis", for
where to download them). These files only copy their LAYOUT:

  intensity: header "word<TAB>emotion<TAB>emotion-intensity-score", then
             word<TAB>emotion<TAB>score, score in [0, 1], one line per (word, emotion)
  VAD:       word<TAB>valence<TAB>arousal<TAB>dominance, each in [0, 1], no header

Their words are the distinct lowercase alphabetic words of the demo corpus (demo/ed/*.csv);
about 60% of them are listed (so that words missing from a lexicon occur), with
deterministic random scores: the numbers mean nothing.

Standard library only, deterministic (fixed seed). Regenerate with:
    python3 scripts/make_demo_lexicon.py
"""

import os
import random
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMOTIONS = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]


def corpus_words():
    words = set()
    for split in ("train", "valid", "test"):
        with open(os.path.join(ROOT, "demo", "ed", f"{split}.csv"), encoding="utf-8") as f:
            next(f)  # header
            for line in f:
                fields = line.rstrip("\n").split(",")
                text = " ".join(fields[3:6]).replace("_comma_", " ").lower()
                words.update(re.findall(r"[a-z]+", text))
    return sorted(words)


def main():
    rng = random.Random(20240601)
    words = corpus_words()
    listed = [w for w in words if rng.random() < 0.6]
    out = os.path.join(ROOT, "demo", "lexicons")
    os.makedirs(out, exist_ok=True)
    lines = 0
    with open(os.path.join(out, "demo-emotion-intensity.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("word\temotion\temotion-intensity-score\n")
        for w in listed:
            for e in sorted(rng.sample(EMOTIONS, rng.choice([1, 1, 2, 3]))):
                f.write(f"{w}\t{e}\t{rng.random():.3f}\n")
                lines += 1
    vad_words = [w for w in words if rng.random() < 0.6]
    with open(os.path.join(out, "demo-vad.txt"), "w", encoding="utf-8", newline="\n") as f:
        for w in vad_words:
            f.write(f"{w}\t{rng.random():.3f}\t{rng.random():.3f}\t{rng.random():.3f}\n")
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8", newline="\n") as f:
        f.write(
            "# Demo lexicons (synthetic)\n\n"
            "Written by `scripts/make_demo_lexicon.py` for the demo's `analysis` stage. They copy only the\n"
            "*layout* of the NRC lexicons, which this project does not ship (see the main README for\n"
            "where to download them); words are the demo corpus's own, scores are deterministic random\n"
            "numbers with no meaning.\n\n"
            "| file | layout | entries |\n|---|---|---|\n"
            f"| `demo-emotion-intensity.txt` | NRC Emotion Intensity: `word<TAB>emotion<TAB>score` with a header | "
            f"{len(listed)} of {len(words)} corpus words, {lines} lines |\n"
            f"| `demo-vad.txt` | NRC VAD v1: `word<TAB>valence<TAB>arousal<TAB>dominance` | "
            f"{len(vad_words)} of {len(words)} corpus words |\n\n"
            "Regenerate (same bytes every run): `python3 scripts/make_demo_lexicon.py`\n"
        )


if __name__ == "__main__":
    main()
