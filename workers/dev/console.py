"""foreman-style console output: each line behind a coloured, fixed-width process name."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from typing import TextIO

_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def colour_for(index: int) -> str:
    return _COLOURS[index % len(_COLOURS)]


class Console:
    def __init__(self, stream: TextIO | None, name_width: int = 9, colour: bool | None = None):
        self.stream = stream
        self.name_width = name_width
        if colour is None:
            isatty = getattr(stream, "isatty", lambda: False)
            colour = bool(stream is not None and isatty() and not os.environ.get("NO_COLOR"))
        self.colour = colour

    def line(self, name: str, colour: str, text: str) -> None:
        if self.stream is None:
            return
        label = name[: self.name_width].ljust(self.name_width)
        if self.colour:
            label = f"\x1b[{colour}m{label}\x1b[0m"
        # A closed or broken terminal must not take the supervisor down.
        with contextlib.suppress(OSError, ValueError):
            self.stream.write(f"{label} | {text}\n")
            self.stream.flush()


async def pump_lines(stream: asyncio.StreamReader, on_line: Callable[[bytes], None]) -> None:
    """Call `on_line` for each line until EOF; chunked, so no line is too long to read."""
    pending = b""
    while chunk := await stream.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            on_line(raw)
    if pending:
        on_line(pending)
