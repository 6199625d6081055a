"""Finding labels in OCR text: exact (longest first, letter-spacing and a lost
slash tolerated), one character off, or an unlisted word that names a field.

A label found mid-line must be believable: long labels always are; short ones
(民族, 住址) only after a separator or when what follows reads as their field,
so that a street called 民族路 does not cut an address in two.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Characters that end a label and start its value; their presence also makes a
# short label found mid-line believable (``…男 民族:汉``).
SEPARATORS = " :;,()[]/|-"
_LEADING_JUNK = SEPARATORS + ".0123456789"


@dataclass(frozen=True)
class LabelVocabulary:
    """Labels of one document type, compiled once.

    ``believable(label, rest)`` decides whether a *short* label found in the
    middle of a line really is a label; long labels always are.
    """

    labels: tuple[str, ...]
    believable: Callable[[str, str], bool]
    # Whether an unlisted word heading a line (客户证件号:) names one of our fields.
    guess: Callable[[str], bool] = lambda _word: False

    def compiled(self) -> tuple[re.Pattern[str], tuple[str, ...]]:
        return _compile(self.labels)


_PATTERN_CACHE: dict[tuple[str, ...], tuple[re.Pattern[str], tuple[str, ...]]] = {}


def _label_regex(label: str) -> str:
    parts = []
    for ch in label:
        if ch == "/":
            parts.append(r"[/|lI1]?")  # the slash in compound labels is often misread or lost
        else:
            parts.append(re.escape(ch))
    return r"\s*".join(parts)


def _compile(labels: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[str, ...]]:
    if labels not in _PATTERN_CACHE:
        # Longest first, so 抵押权人姓名/名称 wins over 姓名 at the same position.
        ordered = tuple(sorted(labels, key=len, reverse=True))
        alternation = "|".join(f"(?P<l{i}>{_label_regex(lab)})" for i, lab in enumerate(ordered))
        _PATTERN_CACHE[labels] = (re.compile(alternation, re.IGNORECASE), ordered)
    return _PATTERN_CACHE[labels]


def edits_apart(a: str, b: str) -> int:
    """The edit (Levenshtein) distance between ``a`` and ``b`` when it is 0 or 1,
    else 2 meaning "two or more".  Labels are believed with at most one misread
    character, so the exact distance beyond that is never needed, and this check
    is linear where the full table was the extractor's biggest cost."""
    if a == b:
        return 0
    if abs(len(a) - len(b)) > 1:
        return 2
    common = 0
    while common < min(len(a), len(b)) and a[common] == b[common]:
        common += 1
    if len(a) == len(b):  # one substitution at the first difference
        return 1 if a[common + 1 :] == b[common + 1 :] else 2
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return 1 if longer[common + 1 :] == shorter[common:] else 2


def _alnum(text: str) -> int:
    return sum(ch.isascii() and ch.isalnum() for ch in text)


def _fuzzy_label(text: str, vocab: LabelVocabulary) -> tuple[int, int, str] | None:
    """A label at the start of the line with one character misread or lost.

    Short labels (良族 for 民族) are believed only when what follows reads as
    their field; one wrong character out of two is too weak a sign alone.
    """
    _pattern, labels = vocab.compiled()
    lead = len(text) - len(text.lstrip(_LEADING_JUNK))
    best: tuple[int, int, str] | None = None
    for label in labels:
        if len(label) < 2 or (best and len(best[2]) >= len(label)):
            continue
        sizes = (len(label),) if len(label) < 4 else (len(label), len(label) - 1, len(label) + 1)
        # The closest reading wins; on a tie, the one as long as the label.
        scored = [(edits_apart(text[lead : lead + size], label), i, size)
                  for i, size in enumerate(sizes) if lead + size <= len(text)]  # fmt: skip
        if not scored:
            continue
        distance, _order, size = min(scored)
        end = lead + size
        if distance > 1 or _alnum(text[lead:end]) != _alnum(label):
            # A Latin letter or digit standing in for a Chinese character is the
            # value's first character (发动机号SL98… is not 发动机号码 L98…).
            continue
        if len(label) < 4 and not vocab.believable(label, text[end:].lstrip(SEPARATORS)):
            continue
        best = (lead, end, label)
    return best


# A line-leading word that may be a label we do not list: 2-10 CJK characters
# (slashes and brackets allowed) followed by a colon, a space, or the line's end.
_LEADING_WORD = re.compile(
    r"^[\d.\s]*(?P<word>[\u4e00-\u9fff/()]{2,10}?)(?P<colon>\s*:)?(?=\s+\S|$|(?<=:))"
)
# Without a colon, a word is taken for a label only if it ends the way labels
# do; otherwise a brand (大众汽车牌) or a lender printed alone would become one.
_LABEL_ENDINGS = (
    "号",
    "码",
    "名",
    "称",
    "期",
    "间",
    "日",
    "人",
    "址",
    "所",
    "额",
    "金",
    "型",
    "构",
    "位",
)


def _guessed_label(text: str, vocab: LabelVocabulary) -> tuple[int, int, str] | None:
    match = _LEADING_WORD.match(text)
    if not match:
        return None
    word = match["word"]
    if not match["colon"] and not word.endswith(_LABEL_ENDINGS):
        return None
    if vocab.guess(word):
        return (match.start("word"), match.end("word"), word)
    return None


def label_matches(text: str, vocab: LabelVocabulary) -> list[tuple[int, int, str]]:
    pattern, ordered = vocab.compiled()
    found = []
    for match in pattern.finditer(text):
        label = ordered[int(match.lastgroup[1:])]
        start, end = match.span()
        before = text[start - 1] if start else " "
        rest = text[end:]
        at_start = not text[:start].strip(_LEADING_JUNK)
        separated = before in SEPARATORS or rest.lstrip().startswith(":")
        if at_start or separated or len(label) >= 4 or vocab.believable(label, rest):
            found.append((start, end, label))
    starts_line = bool(found) and not text[: found[0][0]].strip(_LEADING_JUNK)
    fuzzy = _fuzzy_label(text, vocab)
    if starts_line and fuzzy and fuzzy[0] == found[0][0] and len(fuzzy[2]) > len(found[0][2]):
        # 机动车所有人/身份证明名称/号矿: the long label, one character misread,
        # not its prefix 机动车所有人 with the rest taken for the value.
        found = [fuzzy] + [m for m in found[1:] if m[0] >= fuzzy[1]]
    elif not starts_line:
        leading = fuzzy or _guessed_label(text, vocab)
        if leading and (not found or leading[1] <= found[0][0]):
            found.insert(0, leading)
    return found
