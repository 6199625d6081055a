"""Which engine should read, and which should give the second opinion.

    .venv/bin/python -m bench.second_opinion [--engines ppocrv4,ppocrv6] \\
        [--seconds none,ppocrv4,ppocrv5,ppocrv6] [--split tuning] [--count 60] [--fixtures]

Each primary engine runs in its own process and OCRs every document once;
each second engine (``none``: no second opinion) then re-reads the identity
fields of those same pages (``DocumentReader.read_from``), so combinations
differ only in the second opinion.  Per combination it prints field accuracy,
silent errors (a wrong value in a document not sent to review), documents sent
to review per 100, median ms per page (the whole read) and the second
opinion's own median ms per page, the second-reading doubts that fell on wrong
and on right values, and memory: the primary's peak RSS, and what loading and
running the second recogniser added to the process's resident memory.

Documents come from ``simulators.corpus`` (choose engines on ``tuning``; see
the held-back rule in ``bench/ocr.py``) and, with ``--fixtures``, the committed
test documents.  A figure, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from models.enums import DocType

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "documents"


def _corpus(split: str, count: int) -> list[dict]:
    from simulators.corpus import document

    docs = []
    for index in range(count):
        doc = document(split, index)
        docs.append({"name": doc.name, "doc_type": doc.doc_type.value, "truth": doc.truth,
                     "data": doc.data.hex()})  # fmt: skip
    return docs


def _fixtures() -> list[dict]:
    truth = json.loads((FIXTURES / "truth.json").read_text(encoding="utf-8"))
    return [
        {"name": name, "doc_type": entry["doc_type"], "truth": entry["fields"],
         "data": (FIXTURES / name).read_bytes().hex()}
        for name, entry in truth.items()
    ]  # fmt: skip


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def run_worker(primary: str, seconds: list[str], manifest: Path, out: Path) -> None:
    from activities.ocr.engine import build_engine, build_recognizer
    from activities.ocr.reader import DocumentReader

    engine = build_engine(primary)
    plain = DocumentReader(engine)
    docs = json.loads(manifest.read_text(encoding="utf-8"))
    plain.read(bytes.fromhex(docs[0]["data"]), DocType(docs[0]["doc_type"]))  # warm-up
    pages, primary_ms, primary_cpu = [], [], []
    for doc in docs:
        wall, cpu = time.perf_counter(), time.process_time()
        pages.append(plain.read_pages(bytes.fromhex(doc["data"])))
        primary_ms.append(1000 * (time.perf_counter() - wall))
        primary_cpu.append(1000 * (time.process_time() - cpu))
    result: dict = {"primary_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    configs = {}
    for second in seconds:
        before = _rss_mb()
        reader = plain if second == "none" else DocumentReader(engine, build_recognizer(second))
        rows = []
        for doc, doc_pages, ms, cpu in zip(docs, pages, primary_ms, primary_cpu, strict=True):
            wall, clock = time.perf_counter(), time.process_time()
            reading = reader.read_from(doc_pages, DocType(doc["doc_type"]))
            judge_ms = 1000 * (time.perf_counter() - wall)
            judge_cpu = 1000 * (time.process_time() - clock)
            per_page = max(reading.pages, 1)
            rows.append({
                "needs_review": reading.needs_review,
                "read": {k: f.value for k, f in reading.fields.items()},
                "doubts": {k: [d.alternative for d in f.doubts if d.kind == "second_reading"]
                           for k, f in reading.fields.items()},
                "ms": (ms + judge_ms) / per_page, "cpu_ms": (cpu + judge_cpu) / per_page,
                "judge_ms": judge_ms / per_page, "judge_cpu": judge_cpu / per_page,
            })  # fmt: skip
        configs[second] = {"rows": rows, "added_rss_mb": _rss_mb() - before}
    # The second opinion's own cost: its judging time less judging without it.
    base = configs["none"]["rows"] if "none" in configs else None
    for config in configs.values():
        for i, row in enumerate(config["rows"]):
            row["second_ms"] = row["judge_ms"] - base[i]["judge_ms"] if base else 0.0
            row["second_cpu"] = row["judge_cpu"] - base[i]["judge_cpu"] if base else 0.0
    result["configs"] = configs
    out.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


@dataclass
class Tally:
    docs: int = 0
    fields: int = 0
    right: int = 0
    silent: int = 0
    review: int = 0
    true_doubts: int = 0  # second-reading doubts on a wrong value
    false_doubts: int = 0  # ... on a right one
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    second_ms: list[float] = field(default_factory=list)
    second_cpu: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, doc: dict, row: dict) -> None:
        self.docs += 1
        self.review += row["needs_review"]
        self.ms.append(row["ms"])
        self.cpu_ms.append(row["cpu_ms"])
        self.second_ms.append(row["second_ms"])
        self.second_cpu.append(row["second_cpu"])
        for key, expected in doc["truth"].items():
            value = row["read"].get(key)
            self.fields += 1
            right = value == expected
            self.right += right
            if not right and value not in (None, "") and not row["needs_review"]:
                self.silent += 1
                self.errors.append(f"{doc['name']} {key}: {expected!r} read as {value!r}")
            if row["doubts"].get(key):
                self.false_doubts += right
                self.true_doubts += not right


# Milliseconds are per page, medians: wall clock, and CPU time over all threads
# (steadier on a shared machine); "+2nd" is what the second opinion adds.
HEADER = (
    f"{'primary':13} {'second':13} {'docs':>4} {'accuracy':>8} {'silent':>6} {'silent%':>7} "
    f"{'rev/100':>7} {'ms':>5} {'cpu ms':>6} {'+2nd ms':>7} {'+2nd cpu':>8} "
    f"{'doubts wrong/right':>18} {'RSS MB':>6} {'+2nd MB':>7}"
)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _row(primary: str, second: str, t: Tally, rss: float, added: float) -> str:
    doubts = f"{t.true_doubts}/{t.false_doubts}"
    return (
        f"{primary:13} {second:13} {t.docs:>4} {t.right / max(t.fields, 1):>8.1%} "
        f"{t.silent:>6} {t.silent / max(t.fields, 1):>7.2%} {100 * t.review / max(t.docs, 1):>7.0f} "
        f"{_median(t.ms):>5.0f} {_median(t.cpu_ms):>6.0f} {_median(t.second_ms):>7.0f} "
        f"{_median(t.second_cpu):>8.0f} {doubts:>18} {rss:>6.0f} {added:>7.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="ppocrv4,ppocrv5,ppocrv6,ppocrv6-tiny")
    parser.add_argument("--seconds", default="none,ppocrv4,ppocrv5,ppocrv6,ppocrv6-tiny")
    parser.add_argument("--split", default="tuning", choices=("tuning", "held-back"))
    parser.add_argument("--count", type=int, default=60, help="corpus documents (0: none)")
    parser.add_argument("--fixtures", action="store_true", help="also the test documents")
    parser.add_argument("--show-errors", action="store_true", help="list each silent error")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = [s.strip() for s in args.seconds.split(",") if s.strip()]
    if args.worker:
        run_worker(args.worker, seconds, args.manifest, args.out)
        return

    docs = (_corpus(args.split, args.count) if args.count else []) + (
        _fixtures() if args.fixtures else []
    )
    sources = f"{args.count} {args.split} documents" + (" + fixtures" if args.fixtures else "")
    print(f"jieya second-opinion bench: {sources}")
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="jieya-second-") as tmp:
        manifest = Path(tmp) / "manifest.json"
        manifest.write_text(json.dumps(docs), encoding="utf-8")
        for primary in [e.strip() for e in args.engines.split(",") if e.strip()]:
            out = Path(tmp) / f"{primary}.json"
            proc = subprocess.run(
                [sys.executable, "-m", "bench.second_opinion", "--worker", primary,
                 "--seconds", ",".join(seconds), "--manifest", str(manifest), "--out", str(out)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if proc.returncode != 0 or not out.exists():
                print(f"{primary:13} failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
                continue
            result = json.loads(out.read_text(encoding="utf-8"))
            for second, config in result["configs"].items():
                tally = Tally()
                for doc, row in zip(docs, config["rows"], strict=True):
                    tally.add(doc, row)
                print(_row(primary, second, tally, result["primary_rss_mb"],
                           config["added_rss_mb"]))  # fmt: skip
                if args.show_errors:
                    for error in tally.errors:
                        print(f"    {error}")


if __name__ == "__main__":
    main()
