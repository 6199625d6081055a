"""What every OCR engine gives the reader: text lines with their scores and boxes.

Engines are synchronous and CPU-bound; the activity and the CLI call them from
a worker thread.  Models load once per engine object, so callers build one
engine per process and reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class OcrLine:
    """One recognised text line: its text, the engine's score (0..1), and its
    quadrilateral in page pixels (top-left, top-right, bottom-right, bottom-left)."""

    text: str
    confidence: float
    box: list[Point]
    # Each character's score, aligned with ``text``, when the engine gives them:
    # a line's mean hides the one character it misread (江途 for 江远 scores 0.96
    # as a line, 0.29 on 途).  Empty when unknown.
    char_scores: tuple[float, ...] = ()


class CropText(NamedTuple):
    """What a recogniser read in one line crop, with each character's score."""

    text: str
    char_scores: tuple[float, ...]


@runtime_checkable
class OcrEngine(Protocol):
    name: str

    def recognize(self, image: np.ndarray) -> list[OcrLine]:
        """OCR one BGR page; lines come back in reading order."""
        ...


@runtime_checkable
class LineRecognizer(Protocol):
    """Recognition without detection: the text of crops that each hold one line."""

    name: str

    def read_crops(self, crops: list[np.ndarray]) -> list[CropText]:
        """The text of each BGR crop, in the order given."""
        ...


class OcrEngineUnavailable(RuntimeError):
    """The configured engine cannot run here (package or models missing)."""
