"""Benchmark: the mapping cost per row (every consumer field of the demo data through `map_batch`), here and
at another commit in the same sitting, so that a change to the normalisers is measured against a reference.

    python bench/bench_mapping.py [--rows 200000] [--against REV]

With `--against`, REV is checked out in a temporary git worktree and measured in its own process first; the
last line reads
    mapping: rows=<N> us_per_row=<this tree> reference_us_per_row=<REV> ratio=<this / REV>
Each measurement is one pass over fresh processes (no warm parse caches), batch by batch as a run maps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 25_000


def measure(rows: int) -> float:
    """Seconds per row to map `rows` demo records, consumers only."""
    import polars as pl

    try:
        from smart360_etl.demo.data import generate
    except ImportError:  # a reference revision from before the demo/ package
        from smart360_etl.demo_data import generate  # type: ignore[no-redef]
    from smart360_etl.mapping.fields import build_rules
    from smart360_etl.mapping.mapper import map_batch
    from smart360_etl.regions import region_for

    columns = {"consumer_id": "Consumer ID", "name": "Name", "address": "Address", "contact_number": "Contact Number",
               "email_address": "Email Address"}
    source = generate(rows, seed=7).select(list(columns)).rename(columns)
    source = source.with_columns(pl.all().cast(pl.String))
    rules = build_rules({}, source.columns)
    region = region_for("US")
    map_batch(source.head(100), rules, region, lambda reason: "warn")  # imports and lexicons, not timed
    started = time.perf_counter()
    for offset in range(0, rows, BATCH):
        map_batch(source.slice(offset, BATCH), rules, region, lambda reason: "warn", first_row_number=offset + 1)
    return (time.perf_counter() - started) / rows


def _in_process(rows: int, src: Path) -> float:
    code = f"import sys; sys.path.insert(0, {str(src)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r}); " \
        f"import bench_mapping, json; print(json.dumps(bench_mapping.measure({rows})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--against", help="a git revision to measure in the same sitting, e.g. HEAD~3")
    args = parser.parse_args()
    reference = None
    if args.against:
        with tempfile.TemporaryDirectory() as tree:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", tree, args.against], check=True,
                           capture_output=True)
            try:
                reference = _in_process(args.rows, Path(tree) / "src")
            finally:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", tree], capture_output=True)
    here = _in_process(args.rows, ROOT / "src")
    line = f"mapping: rows={args.rows} us_per_row={here * 1e6:.2f}"
    if reference is not None:
        line += f" reference_us_per_row={reference * 1e6:.2f} ratio={here / reference:.2f}"
    print(line)


if __name__ == "__main__":
    main()
