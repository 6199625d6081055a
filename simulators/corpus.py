"""The OCR corpus: a tuning set to improve the reader on, and a held-back set
nobody tunes on.

- **tuning**: seeds 0-999; fonts WenQuanYi Micro Hei and Noto Sans CJK; the
  classic layouts and the new ones not listed in ``doclayouts.HELD_BACK_ONLY``.
- **held-back**: seeds 1000-1999; adds the Noto Serif CJK family (half of its
  pages) and the held-back-only layouts (a settlement letter with the ID number
  one digit to a box, a photocopied ID card under a watermark, a registration
  certificate with labels flush right, a bilingual driving licence).

Both draw the varied facts (rare and compound surnames, engine numbers with
O/0, I/1, B/8, S/5, plates of every province) and every degradation.  Fix
the reader against what the tuning set shows; read the held-back figures only
to learn whether a fix generalises, never to choose one.

    python -m simulators.corpus OUT_DIR --split held-back --count 60
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from models.enums import DocType
from simulators.docfacts import DocumentFacts
from simulators.docgen import (
    Variety,
    draw_document,
    layout_count,
    layout_name,
    layouts,
)
from simulators.doclayouts import HELD_BACK_ONLY, LAYOUTS
from simulators.docspoil import ALL_DEGRADATIONS, encode

TUNING = Variety(
    name="tuning",
    families=(("wqy-microhei", 1.0), ("noto-sans", 1.0)),
    held_back_layouts=False,
)
HELD_BACK = Variety(
    name="held-back",
    families=(("wqy-microhei", 0.25), ("noto-sans", 0.25), ("noto-serif", 0.5)),
    held_back_layouts=True,
)
SPLITS = {"tuning": (TUNING, range(0, 1000)), "held-back": (HELD_BACK, range(1000, 2000))}


@dataclass(frozen=True)
class CorpusDocument:
    name: str  # e.g. "1007_id_card_id_card_copy_lowres"
    doc_type: DocType
    seed: int
    layout: str
    degradation: str
    font: str
    data: bytes  # the upload, PNG or JPEG
    truth: dict[str, str]  # each field as the reader should return it


def _layout_weights(doc_type: DocType, variety: Variety) -> tuple[list[int], list[float]]:
    # A held-back-only layout comes up as often as all classic layouts together.
    classic = layout_count(doc_type)
    indices = layouts(doc_type, variety)
    held_back = {classic + i for i, draw in enumerate(LAYOUTS[doc_type]) if draw in HELD_BACK_ONLY}
    return indices, [float(classic) if i in held_back else 1.0 for i in indices]


def document(split: str, index: int) -> CorpusDocument:
    """The ``index``-th document of ``split``: the type goes round-robin, the
    rest follows from the document's seed."""
    variety, seeds = SPLITS[split]
    seed = seeds[index]
    doc_type = list(DocType)[index % len(DocType)]
    rng = random.Random(f"corpus:{split}:{seed}")
    indices, weights = _layout_weights(doc_type, variety)
    layout = rng.choices(indices, weights)[0]
    degradation = ALL_DEGRADATIONS[(index // len(DocType)) % len(ALL_DEGRADATIONS)]
    facts = DocumentFacts.random(random.Random(seed), varied=True)
    drawn = draw_document(doc_type, facts, seed, layout, degradation, variety)
    shape = layout_name(doc_type, layout)
    return CorpusDocument(
        name=f"{seed}_{doc_type.value}_{shape}_{degradation}", doc_type=doc_type, seed=seed,
        layout=shape, degradation=degradation, font=drawn.font,
        data=encode(drawn.image, degradation), truth=drawn.truth,
    )  # fmt: skip


def documents(split: str, count: int) -> list[CorpusDocument]:
    return [document(split, i) for i in range(count)]


def _main() -> None:
    parser = argparse.ArgumentParser(description="Write a corpus split and its truth.json.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--split", choices=tuple(SPLITS), default="tuning")
    parser.add_argument("--count", type=int, default=60)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    truth = {}
    for doc in documents(args.split, args.count):
        name = doc.name + (".png" if doc.degradation in ("clean", "seal") else ".jpg")
        (args.out_dir / name).write_bytes(doc.data)
        truth[name] = {"doc_type": doc.doc_type.value, "layout": doc.layout, "font": doc.font,
                       "degradation": doc.degradation, "fields": doc.truth}  # fmt: skip
    (args.out_dir / "truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.count} {args.split} documents to {args.out_dir}")


if __name__ == "__main__":
    _main()
