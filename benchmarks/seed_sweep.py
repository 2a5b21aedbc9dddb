"""Run chapters over many seed bases and count how often their own assertions fail.

Each run executes an instructor notebook (solutions/) top to bottom in a fresh kernel with
`DLCOURSE_SEED_BASE=B`, so every repeated experiment uses seeds B, B+1, ... instead of 0, 1, ...
A claim that holds only for lucky seeds shows up as failing bases. Results are appended to a JSON
lines file (one line per chapter and base) so a long sweep can be stopped and resumed.

    python benchmarks/seed_sweep.py --chapters 02_dropout 05_overfitting --count 20 --start 1000
    python benchmarks/seed_sweep.py --full --chapters 06_capstone --bases 7,1234
    python benchmarks/seed_sweep.py --summary        # the table of what is recorded so far
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from autograder import release  # noqa: E402

DEFAULT_RECORD = ROOT / "benchmarks" / "seed_sweep.jsonl"


def notebook_version(chapter: str, text: str | None = None) -> str:
    """Which experiments and assertions a run tested: the first 12 hex digits of the SHA-256 of the
    instructor notebook's code cells (prose edits do not change what runs, so they keep the record)."""
    text = text if text is not None else (ROOT / "solutions" / chapter / f"{chapter}.ipynb").read_text(encoding="utf-8")
    cells = json.loads(text)["cells"]
    code = "\n# %% cell\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    return hashlib.sha256(code.encode("utf-8")).hexdigest()[:12]


def run_one(chapter: str, base: int, fast: bool) -> dict:
    """Execute solutions/<chapter> once with seeds starting at `base`; the errors it raised."""
    import notebook_runner

    os.environ["DLCOURSE_SEED_BASE"] = str(base)  # read by the kernel (dlcourse.fastmode.seed_base)
    path = ROOT / "solutions" / chapter / f"{chapter}.ipynb"
    version = notebook_version(chapter)
    nb, seconds = notebook_runner.execute(path, fast=fast, timeout=1800)
    errors = [{"cell": index, "message": message[:400]} for index, _, message in notebook_runner.cell_errors(nb)]
    return {"chapter": chapter, "version": version, "base": base, "mode": "fast" if fast else "full", "seconds": round(seconds, 1),
            "failed": bool(errors), "errors": errors}


def recorded(record: Path) -> list[dict]:
    if not record.is_file():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


def current(rows: list[dict]) -> list[dict]:
    """The runs of the notebooks as they are now (runs of earlier versions tested other claims)."""
    versions = {}
    for row in rows:
        if row["chapter"] not in versions:
            versions[row["chapter"]] = notebook_version(row["chapter"])
    return [row for row in rows if row.get("version") == versions[row["chapter"]]]


def summary(rows: list[dict]) -> str:
    """Per chapter and mode, for today's notebooks: bases tried, failed, median seconds, each failure's count."""
    older = len(rows)
    rows = current(rows)
    older -= len(rows)
    groups = defaultdict(list)
    for row in rows:
        groups[row["chapter"], row["mode"]].append(row)
    lines = ["| chapter | mode | bases tried | bases failed | median s | failures (count: first line of the message) |",
             "|---|---|---|---|---|---|"]
    for (chapter, mode), runs in sorted(groups.items()):
        seconds = sorted(r["seconds"] for r in runs)
        messages = Counter(e["message"].splitlines()[0][:120] for r in runs for e in r["errors"])
        said = "; ".join(f"{n}: {m}" for m, n in messages.most_common()) or "-"
        failed = sum(r["failed"] for r in runs)
        lines.append(f"| {chapter} | {mode} | {len(runs)} | {failed} | {seconds[len(seconds) // 2]:.0f} | {said} |")
    if older:
        lines.append(f"\n({older} runs of earlier versions of the notebooks are in the record, not counted.)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", default=None, help="chapter folders (default: all seven)")
    parser.add_argument("--bases", help="comma-separated seed bases, e.g. 10,20,30")
    parser.add_argument("--start", type=int, default=1000, help="first base when --bases is not given")
    parser.add_argument("--count", type=int, default=10, help="how many consecutive bases from --start (step --step)")
    parser.add_argument("--step", type=int, default=10, help="distance between bases, so runs share no seed")
    parser.add_argument("--full", action="store_true", help="full mode (default: fast mode, DLCOURSE_FAST=1)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once")
    parser.add_argument("--record", type=Path, default=DEFAULT_RECORD, help="JSON lines file to append to")
    parser.add_argument("--again", action="store_true", help="re-run bases already in the record")
    parser.add_argument("--summary", action="store_true", help="print the table of the record and stop")
    args = parser.parse_args(argv)

    if args.summary:
        print(summary(recorded(args.record)))
        return 0
    chapters = args.chapters or release.chapters()
    bases = ([int(b) for b in args.bases.split(",")] if args.bases
             else [args.start + i * args.step for i in range(args.count)])
    mode = "full" if args.full else "fast"
    done = {(r["chapter"], r["base"], r["mode"]) for r in current(recorded(args.record))}
    todo = [(c, b) for c in chapters for b in bases if args.again or (c, b, mode) not in done]
    args.record.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(run_one, chapter, base, not args.full) for chapter, base in todo]
        for future in futures:
            row = future.result()
            with args.record.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            status = "FAILED " + " | ".join(e["message"].splitlines()[0][:160] for e in row["errors"]) \
                if row["failed"] else "ok"
            print(f"{row['chapter']} base {row['base']} ({row['mode']}, {row['seconds']:.0f} s): {status}", flush=True)
    rows = [r for r in recorded(args.record) if r["chapter"] in chapters]
    print(summary(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
