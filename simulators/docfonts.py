"""The CJK typefaces synthetic documents are printed in, found through fontconfig.

Three families from Debian (``make fonts`` installs both packages):

- ``wqy-microhei``: WenQuanYi Micro Hei, a sans serif (fonts-wqy-microhei);
- ``noto-sans``: Noto Sans CJK SC, regular and bold, proportional and mono
  (fonts-noto-cjk);
- ``noto-serif``: Noto Serif CJK SC, regular and bold (fonts-noto-cjk), the
  Song style most state-issued forms are printed in.

A Noto ``.ttc`` holds one face per language and spacing; the Simplified Chinese
one is picked by its index in the collection, as fontconfig reports it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class FontFace:
    family: str  # corpus family key: wqy-microhei, noto-sans, noto-serif
    path: Path
    index: int  # face in a font collection
    bold: bool = False
    mono: bool = False  # monospaced Latin: every digit and letter one width

    @property
    def name(self) -> str:
        return f"{self.family}{'-bold' if self.bold else ''}{'-mono' if self.mono else ''}"


class FontMissing(RuntimeError):
    """A family the corpus asks for is not installed."""


# family key -> (fontconfig family name, mono), and the Debian package with it
_WANTED: dict[str, tuple[tuple[str, bool], ...]] = {
    "wqy-microhei": (("WenQuanYi Micro Hei", False), ("WenQuanYi Micro Hei Mono", True)),
    "noto-sans": (("Noto Sans CJK SC", False), ("Noto Sans Mono CJK SC", True)),
    "noto-serif": (("Noto Serif CJK SC", False),),
}
PACKAGES = {
    "wqy-microhei": "fonts-wqy-microhei",
    "noto-sans": "fonts-noto-cjk",
    "noto-serif": "fonts-noto-cjk",
}
FAMILIES = tuple(_WANTED)

_WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
_NOTO = Path("/usr/share/fonts/opentype/noto")
# Where Debian puts them, for machines without fc-list: (family key, file, index, bold, mono)
_KNOWN_PATHS = (
    ("wqy-microhei", _WQY, 0, False, False),
    ("wqy-microhei", _WQY, 1, False, True),
    *(
        (key, _NOTO / f"Noto{style}CJK-{weight}.ttc", index, weight == "Bold", index == 7)
        for key, style, indices in (("noto-sans", "Sans", (2, 7)), ("noto-serif", "Serif", (2,)))
        for weight in ("Regular", "Bold")
        for index in indices
    ),
)


def _from_fc_list() -> list[FontFace] | None:
    if shutil.which("fc-list") is None:
        return None
    listing = subprocess.run(
        ["fc-list", "-f", "%{file}|%{index}|%{family}|%{style}\n", ":lang=zh"],
        capture_output=True, text=True, check=False, timeout=30,
    ).stdout  # fmt: skip
    faces = []
    for row in listing.splitlines():
        parts = row.split("|")
        if len(parts) != 4:
            continue
        file, index, names, style = parts
        for key, wanted in _WANTED.items():
            for family, mono in wanted:
                if family in names.split(","):
                    bold = "Bold" in style.split(",")
                    faces.append(FontFace(key, Path(file), int(index), bold, mono))
    return faces


@cache
def installed_faces() -> tuple[FontFace, ...]:
    """Every face of the three families on this machine, in a stable order."""
    found = _from_fc_list()
    if not found:
        found = [FontFace(k, p, i, b, m) for k, p, i, b, m in _KNOWN_PATHS if p.exists()]
    unique = {(f.family, f.bold, f.mono): f for f in sorted(found, key=lambda f: str(f.path))}
    return tuple(sorted(unique.values(), key=lambda f: (FAMILIES.index(f.family), f.name)))


def faces(family: str) -> tuple[FontFace, ...]:
    """The faces of ``family``; raises ``FontMissing`` naming the package to install."""
    if family not in _WANTED:
        raise ValueError(f"unknown font family {family!r}; choose from {', '.join(FAMILIES)}")
    found = tuple(f for f in installed_faces() if f.family == family)
    if not found:
        names = " / ".join(name for name, _ in _WANTED[family])
        raise FontMissing(
            f"font family {family} ({names}) is not installed: "
            f"apt-get install {PACKAGES[family]} (or `make fonts`)"
        )
    return found


def classic_face() -> FontFace:
    """The face documents were drawn in before the corpus had several: WenQuanYi
    Micro Hei where present, so old seeds draw the same page they always did."""
    for family in ("wqy-microhei", "noto-sans"):
        regular = [f for f in installed_faces() if f.family == family and not f.bold and not f.mono]
        if regular:
            return regular[0]
    raise FontMissing("no CJK font found; install fonts-wqy-microhei and fonts-noto-cjk")
