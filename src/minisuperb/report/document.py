"""The report as a list of sections, rendered to Markdown (figures linked) and to one
self-contained HTML file (figures embedded as base64 PNG, styles inline) that fits the width of
the page: cells wrap, nothing scrolls sideways."""

from __future__ import annotations

import base64
import html
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; overflow-wrap: break-word; }
th { background: #f0f0f0; } td.number { text-align: right; white-space: nowrap; }
ul.summary { background: #f6f8fa; border: 1px solid #d0d7de; padding: 0.8em 1em 0.8em 2em; }
figure { margin: 1em 0; } figure img { max-width: 100%; } figcaption { font-size: 0.9em; color: #555; }
"""


def format_value(value) -> str:
    """A cell without a format of its own: blank when missing, integers as they are."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{int(value)}" if value == int(value) else f"{value:.3g}"
    return str(value)


# Numbers rounded to what they mean.
def score_text(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}"  # + 0.0: no "-0.0" for a score of -1e-7


def correlation_text(value: float) -> str:
    return f"{value:.3f}"


def p_text(value: float) -> str:
    return "< 0.0001" if value < 1e-4 else f"{value:.2g}"


def interval_text(ci) -> str:
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def macs_text(value: float) -> str:
    return f"{value:.3g}".replace("e+", "e")


def share_text(percent: float) -> str:
    return f"{percent:.0f}" if percent >= 10 else f"{percent:.2g}"


def reduction_text(percent: float) -> str:
    """A reduction with the decimals that show two digits of what is left: 97.3, 99.12, 99.9988."""
    left = 100.0 - percent
    decimals = 1 if left >= 10 else min(6, max(1, math.ceil(-math.log10(left)) + 1)) if left > 0 else 1
    return f"{percent:.{decimals}f}"


def megabytes_text(value: float) -> str:
    return f"{value / 1e6:.3g}"


def seconds_text(value: float) -> str:
    return f"{value:.1f}"


@dataclass
class Table:
    """A table and how to print its columns: `formats` maps a column to a function of one value
    (missing values stay blank), so each number is rounded to what it means."""
    frame: pd.DataFrame
    formats: Mapping[str, Callable] = field(default_factory=dict)

    def rows(self) -> list[list[tuple[str, bool]]]:
        """Cells as (text, is a number)."""
        def cell(column, value) -> tuple[str, bool]:
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            text = "" if missing else self.formats.get(column, format_value)(value)
            return text, isinstance(value, numbers.Real) and not isinstance(value, bool)

        return [[cell(c, v) for c, v in zip(self.frame.columns, row)] for row in self.frame.itertuples(index=False)]


@dataclass
class Figure:
    path: Path
    caption: str


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figure: Figure | None = None
    bullets: list[str] = field(default_factory=list)  # shown first, as the summary's list


def markdown_table(table: Table) -> str:
    header = "| " + " | ".join(map(str, table.frame.columns)) + " |"
    rule = "|" + "---|" * len(table.frame.columns)
    body = ["| " + " | ".join(text for text, _ in row) + " |" for row in table.rows()]
    return "\n".join([header, rule, *body])


def to_markdown(title: str, sections: list[Section], base: Path) -> str:
    """Markdown; figure links are relative to `base` (the report folder)."""
    parts = [f"# {title}"]
    for section in sections:
        parts.append(f"## {section.title}")
        if section.bullets:
            parts.append("\n".join(f"- {item}" for item in section.bullets))
        parts.extend(section.paragraphs)
        parts.extend(markdown_table(table) for table in section.tables)
        if section.figure:
            link = section.figure.path.relative_to(base).as_posix()
            parts.append(f"![{section.figure.caption}]({link})\n\n*{section.figure.caption}*")
    return "\n\n".join(parts) + "\n"


def html_table(table: Table) -> str:
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.frame.columns)
    number_class = ' class="number"'
    rows = "".join(
        "<tr>" + "".join(f"<td{number_class if number else ''}>{html.escape(text)}</td>" for text, number in row)
        + "</tr>" for row in table.rows()
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"


def embedded_image(figure: Figure) -> str:
    data = base64.b64encode(figure.path.read_bytes()).decode("ascii")
    alt = html.escape(figure.caption, quote=True)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>")


def to_html(title: str, sections: list[Section]) -> str:
    """One HTML file with everything inside: it opens anywhere, offline."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.bullets:
            body.append('<ul class="summary">' + "".join(f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>")
        body.extend(f"<p>{html.escape(p)}</p>" for p in section.paragraphs)
        body.extend(html_table(table) for table in section.tables)
        if section.figure:
            body.append(embedded_image(section.figure))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
