"""Which of the four documents a page is, from the words printed on it.

Titles weigh most (结清证明, 机动车登记证书…), counted double when printed large
or near the top: a settlement certificate may well *mention* the registration
certificate in its body.  Typical body labels add a point each.
"""

from __future__ import annotations

from activities.ocr.doctypes import LAYOUTS
from activities.ocr.engine import OcrLine
from models.enums import DocType
from models.identity import normalize_text


def classify(lines: list[OcrLine]) -> DocType | None:
    """Which of the four documents these lines come from, or None if unclear."""
    if not lines:
        return None
    heights = sorted(abs(line.box[3][1] - line.box[0][1]) for line in lines)
    typical = heights[len(heights) // 2] or 1.0
    top = min(min(y for _, y in line.box) for line in lines)
    bottom = max(max(y for _, y in line.box) for line in lines)
    scores: dict[DocType, float] = {}
    for layout in LAYOUTS.values():
        score = 0.0
        seen: set[str] = set()
        for line in lines:
            text = normalize_text(line.text).replace(" ", "")
            height = abs(line.box[3][1] - line.box[0][1])
            near_top = min(y for _, y in line.box) - top < 0.2 * (bottom - top)
            title = next((w for w in layout.title_words if w in text), None)
            if title and title not in seen:
                seen.add(title)
                score += 3 * (2 if height > 1.3 * typical or near_top else 1)
            for word in layout.body_words:
                if word in text and word not in seen:
                    seen.add(word)
                    score += 1
        scores[layout.doc_type] = score
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score < 3 or best_score - runner_up < 1:
        return None
    return best
