"""Field accuracy and speed of the document reader on synthetic documents.

    python -m bench.ocr_accuracy --count 40 --seed 11 [--engine rapidocr] [--second ppocrv6]
        [--show-errors]

Generates ``count`` documents with ``simulators.docgen`` (round-robin over the
four types, mixed degradations), reads each through ``DocumentReader`` exactly
as the activity does, and prints per type: field accuracy, documents fully
right, wrong values that slipped through unflagged, and milliseconds per page.
A figure, not a test: nothing here passes or fails.  These are the classic
documents; ``bench/ocr.py`` measures the tuning and held-back corpus.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections import defaultdict

from activities.ocr.engine import RapidOcrEngine, build_engine, build_recognizer
from activities.ocr.reader import DocumentReader
from models.enums import DocType
from simulators.docfacts import DocumentFacts
from simulators.docgen import DEGRADATIONS, render
from simulators.docspoil import encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--engine", default="rapidocr")
    parser.add_argument("--second", default="none",
                        help="engine whose recogniser re-reads identity fields (none: off)")  # fmt: skip
    parser.add_argument("--degradation", choices=(*DEGRADATIONS, "mixed"), default="mixed")
    parser.add_argument("--detect-side", type=int, help="RapidOCR detector input size (px)")
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args()

    if args.detect_side and args.engine == "rapidocr":
        engine = RapidOcrEngine(detect_side=args.detect_side)
    else:
        engine = build_engine(args.engine)
    second = None if args.second.lower() == "none" else build_recognizer(args.second)
    reader = DocumentReader(engine, second)
    rng = random.Random(args.seed)
    stats: dict[DocType, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    doc_types = list(DocType)
    for i in range(args.count):
        doc_type = doc_types[i % len(doc_types)]
        degradation = rng.choice(DEGRADATIONS) if args.degradation == "mixed" else args.degradation
        seed = rng.randrange(2**31)
        image, truth = render(doc_type, DocumentFacts.random(random.Random(seed)), seed,
                              degradation=degradation)  # fmt: skip
        reading = reader.read(encode(image, degradation), doc_type)
        wrong = {
            key: (expected, reading.fields[key].value if key in reading.fields else None)
            for key, expected in truth.items()
            if key not in reading.fields or reading.fields[key].value != expected
        }
        s = stats[doc_type]
        s["fields"].append(len(truth))
        s["right"].append(len(truth) - len(wrong))
        s["perfect"].append(not wrong)
        s["unflagged"].append(bool(wrong) and not reading.needs_review)
        s["review"].append(reading.needs_review)
        s["ms"].append(reading.ms / max(reading.pages, 1))
        if wrong and args.show_errors:
            flag = "review" if reading.needs_review else "UNFLAGGED"
            print(f"  #{i} {doc_type.value} {degradation} {flag}: {wrong}")

    print(f"{'doc type':34} {'docs':>4} {'field acc':>9} {'perfect':>7} {'review':>6} "
          f"{'unflagged':>9} {'ms/page':>7}")  # fmt: skip
    for doc_type, s in stats.items():
        accuracy = sum(s["right"]) / sum(s["fields"])
        print(
            f"{doc_type.value:34} {len(s['perfect']):>4} {accuracy:>9.1%} "
            f"{sum(s['perfect']):>7} {sum(s['review']):>6} {sum(s['unflagged']):>9} "
            f"{statistics.median(s['ms']):>7.0f}"
        )


if __name__ == "__main__":
    main()
