"""OCR acceptance figures: accuracy, silent errors, latency, throughput and memory.

    .venv/bin/python bench/ocr.py [--count 100] [--concurrency 2] [--seed 7]

Generates ``count`` synthetic documents (round-robin over the four types, and
over every degradation within each type, so each (type, degradation) pair
appears), reads each through ``DocumentReader`` as the OCR activity does, and
prints per type and overall:

- field accuracy on clean and on degraded documents;
- silent errors: a wrong value in a document *not* flagged ``needs_review``
  (count and share of all fields) -- the errors nobody would look at;
- median and p90 latency per page, reading one document at a time;
- pages/s when the same documents are read by a pool of ``--concurrency``
  threads, as the OCR worker's bounded executor does;
- the process's peak RSS.

Targets are printed beside the figures; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from activities.ocr.engine import build_engine  # noqa: E402
from activities.ocr.reader import DocumentReader  # noqa: E402
from bench.ocr_accuracy import _encode  # noqa: E402
from models.enums import DocType  # noqa: E402
from simulators.docfacts import DocumentFacts  # noqa: E402
from simulators.docgen import DEGRADATIONS, layout_count, render  # noqa: E402

TARGET_CLEAN = 0.98
TARGET_DEGRADED = 0.95
TARGET_SILENT = 0.005
TARGET_MEDIAN_S = 0.8
TARGET_RSS_MB = 1536


@dataclass
class Sample:
    doc_type: DocType
    degradation: str
    data: bytes
    truth: dict[str, str]


@dataclass
class Outcome:
    fields: int = 0
    right: int = 0
    missing: int = 0
    silent: int = 0  # wrong (non-empty) values in documents not flagged for review
    silent_docs: int = 0
    review: int = 0
    docs: int = 0


def generate(count: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    doc_types = list(DocType)
    samples = []
    for i in range(count):
        doc_type = doc_types[i % len(doc_types)]
        nth = i // len(doc_types)  # the nth document of this type
        degradation = DEGRADATIONS[nth % len(DEGRADATIONS)]
        layout = (nth // len(DEGRADATIONS)) % layout_count(doc_type)
        doc_seed = rng.randrange(2**31)
        facts = DocumentFacts.random(random.Random(doc_seed))
        image, truth = render(doc_type, facts, doc_seed, layout=layout, degradation=degradation)
        samples.append(Sample(doc_type, degradation, _encode(image, degradation), truth))
    return samples


def score(sample: Sample, reading, outcome: Outcome, errors: list[str] | None) -> None:
    outcome.docs += 1
    outcome.review += reading.needs_review
    wrong = 0
    for key, expected in sample.truth.items():
        field = reading.fields.get(key)
        value = field.value if field is not None else None
        outcome.fields += 1
        if value == expected:
            outcome.right += 1
        elif value in (None, ""):
            outcome.missing += 1
        else:
            wrong += 1
            if not reading.needs_review:
                outcome.silent += 1
                if errors is not None:
                    errors.append(
                        f"  {sample.doc_type.value}/{sample.degradation} {key}: "
                        f"{expected!r} read as {value!r} (not flagged)"
                    )
    outcome.silent_docs += bool(wrong) and not reading.needs_review


def _pct(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--show-errors", action="store_true", help="list each silent error")
    args = parser.parse_args()

    started = time.perf_counter()
    samples = generate(args.count, args.seed)
    generated = time.perf_counter() - started
    reader = DocumentReader(build_engine(args.engine))
    reader.read(samples[0].data, samples[0].doc_type)  # warm-up: model load, first-run costs

    # Latency: one document at a time, as one activity slot sees it.
    clean: dict[DocType | None, Outcome] = defaultdict(Outcome)
    degraded: dict[DocType | None, Outcome] = defaultdict(Outcome)
    latency: dict[DocType | None, list[float]] = defaultdict(list)
    errors: list[str] = []
    for sample in samples:
        t0 = time.perf_counter()
        reading = reader.read(sample.data, sample.doc_type)
        per_page = (time.perf_counter() - t0) / max(reading.pages, 1)
        bucket = clean if sample.degradation == "clean" else degraded
        for key in (sample.doc_type, None):
            score(sample, reading, bucket[key], errors if key is None else None)
            latency[key].append(per_page)

    # Throughput: the same documents through a bounded pool, like OcrActivities.
    pool = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="ocr")
    t0 = time.perf_counter()
    readings = list(pool.map(lambda s: reader.read(s.data, s.doc_type), samples))
    wall = time.perf_counter() - t0
    pool.shutdown()
    pages = sum(r.pages for r in readings)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    print(
        f"jieya OCR bench: {len(samples)} documents (seed {args.seed}, engine {reader.engine.name}, "
        f"degradations {', '.join(DEGRADATIONS)}; generated in {generated:.1f} s)"
    )
    header = (
        f"{'doc type':34} {'docs':>4} {'clean acc':>9} {'degr acc':>9} {'missing':>7} "
        f"{'review':>6} {'silent':>6} {'silent%':>7} {'p50 s/pg':>8} {'p90 s/pg':>8}"
    )
    print(header)
    print("-" * len(header))
    for key in [*DocType, None]:
        c, d = clean[key], degraded[key]
        fields = c.fields + d.fields
        silent = c.silent + d.silent
        times = sorted(latency[key])
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))] if times else 0.0
        label = key.value if key is not None else "ALL"
        if key is None:
            print("-" * len(header))
        print(
            f"{label:34} {c.docs + d.docs:>4} {_pct(c.right, c.fields):>9} "
            f"{_pct(d.right, d.fields):>9} {c.missing + d.missing:>7} {c.review + d.review:>6} "
            f"{silent:>6} {_pct(silent, fields):>7} "
            f"{statistics.median(times) if times else 0:>8.2f} {p90:>8.2f}"
        )

    c, d = clean[None], degraded[None]
    fields = c.fields + d.fields
    silent = c.silent + d.silent
    clean_acc = c.right / c.fields if c.fields else 0.0
    degraded_acc = d.right / d.fields if d.fields else 0.0
    silent_share = silent / fields if fields else 0.0
    median = statistics.median(latency[None])
    print()
    print("figure                               value        target")
    print(f"field accuracy, clean                {clean_acc:>7.1%}      >= {TARGET_CLEAN:.0%}"
          f"      {_mark(clean_acc >= TARGET_CLEAN)}")  # fmt: skip
    print(f"field accuracy, degraded             {degraded_acc:>7.1%}      >= {TARGET_DEGRADED:.0%}"
          f"      {_mark(degraded_acc >= TARGET_DEGRADED)}")  # fmt: skip
    print(f"silent errors (fields)               {silent:>3} = {silent_share:.2%}   <= "
          f"{TARGET_SILENT:.1%}     {_mark(silent_share <= TARGET_SILENT)}"
          f"   ({c.silent_docs + d.silent_docs} documents of {c.docs + d.docs})")  # fmt: skip
    print(f"median latency per page              {median:>6.2f} s     <= {TARGET_MEDIAN_S} s"
          f"     {_mark(median <= TARGET_MEDIAN_S)}")  # fmt: skip
    print(f"throughput, {args.concurrency} threads                 {pages / wall:>6.2f} pages/s"
          f" ({pages} pages in {wall:.1f} s)")  # fmt: skip
    print(f"peak RSS                             {rss_mb:>6.0f} MB    <= {TARGET_RSS_MB / 1024:.1f} GB"
          f"    {_mark(rss_mb <= TARGET_RSS_MB)}")  # fmt: skip
    if args.show_errors and errors:
        print("\nsilent errors:")
        print("\n".join(errors))


if __name__ == "__main__":
    main()
