"""Plain-text tables for the terminal: the one renderer behind ``llama-mapper versions`` and the
demo's side-by-side routes (Markdown tables of results live in :mod:`llama_mapper.evaluation.routes`)."""

from __future__ import annotations

from collections.abc import Sequence


def text_table(rows: Sequence[Sequence[object]], max_width: int | None = None, rule: bool = False) -> str:
    """Left-aligned columns two spaces apart; the first row is the header (underlined when ``rule``).
    Cells longer than ``max_width`` are cut with an ellipsis."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    if max_width is not None:
        widths = [min(w, max_width) for w in widths]
        cells = [
            [c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths, strict=True)]
            for row in cells
        ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
