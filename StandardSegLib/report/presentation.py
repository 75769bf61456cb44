"""Presentation helpers shared by every HTML report (lesion, cohort and phantom reports).

Numbers are shown with the precision a reader uses, chosen by unit: volumes in mL with 2 decimals, SUV with 2,
HU as integers, lengths in mm with 1; other values with 4 significant digits, never in scientific notation.
The JSON and CSV outputs keep full precision; these helpers only format what a person reads. Markup helpers
give tables with header cells (``<th scope>``, a caption), definition lists and collapsible ``<details>``
sections, all HTML-escaped, plus one stylesheet for screen and A4 print.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any, Collection, Iterable, Mapping, Optional, Sequence

from StandardSegLib.suv.conversion import SUV_TYPES

#: Decimals shown per unit (as the report documents write units). SUV products (TLG, SUV x mL) follow SUV.
DECIMALS: Mapping[str, int] = {
    "ml": 2, "mL": 2, "HU": 0, "mm": 1, "mm2": 0, "mm3": 0, "voxels": 0, "1": 2, "%": 1, "s": 1, "MBq": 1,
    "kg": 1, "m": 2, **{suv: 2 for suv in SUV_TYPES}, **{f"{suv}*ml": 2 for suv in SUV_TYPES},
}
#: How a unit is printed (superscripts, the SI "mL"); units not listed print as written.
_UNIT_TEXT: Mapping[str, str] = {"ml": "mL", "mm2": "mm²", "mm3": "mm³", "1": "", "voxels": "voxels",
                                 **{f"{suv}*ml": f"{suv}·mL" for suv in SUV_TYPES}}
SIGNIFICANT_DIGITS = 4


def decimals_for(unit: Optional[str]) -> Optional[int]:
    """Decimals shown for ``unit``, or None when the value is shown with ``SIGNIFICANT_DIGITS`` instead."""
    return DECIMALS.get(unit or "")


def format_number(value: Any, unit: Optional[str] = None, decimals: Optional[int] = None) -> str:
    """``value`` as a reader sees it: fixed decimals for known units, else 4 significant digits; "" for None.

    Integers stay integers; booleans and text are returned as text. No scientific notation, no "-0".
    """
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) and decimals is None:
        return str(value)
    if not math.isfinite(value):
        return str(value)
    places = decimals if decimals is not None else decimals_for(unit)
    if places is None:
        magnitude = math.floor(math.log10(abs(value))) if value else 0
        places = max(0, SIGNIFICANT_DIGITS - 1 - magnitude)
    text = f"{value:.{places}f}"
    return text[1:] if re.fullmatch(r"-0(\.0*)?", text) else text


def unit_text(unit: Optional[str]) -> str:
    """The unit as printed ("mm3" -> "mm³", "ml" -> "mL", "1" -> "")."""
    return _UNIT_TEXT.get(unit or "", unit or "")


def format_quantity(value: Any, unit: Optional[str]) -> str:
    """Number and unit ("12.22 mL"); "" for None."""
    number = format_number(value, unit)
    shown = unit_text(unit)
    return f"{number} {shown}" if number and shown else number


def readable(value: Any) -> str:
    """A record value (number, list, date) as short text: floats with 4 significant digits, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, float):
        text = format_number(value)  # significant digits without trailing zeros: 3.26999999999998 -> 3.27
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, (list, tuple)):
        return ", ".join(readable(item) for item in value) if value else "—"
    if isinstance(value, Mapping):
        return "; ".join(f"{humanise(key)}: {readable(item)}" for key, item in value.items()) or "—"
    return str(value)


def humanise(key: str) -> str:
    """A snake_case key as a label with its unit suffix in brackets ("pixel_spacing_mm" -> "Pixel spacing (mm)")."""
    words = key.split("_")
    unit = None
    if len(words) > 1 and words[-1] in {"mm", "ms", "mgy", "ma", "mas", "kg", "m", "s", "bq", "t", "deg", "ml"}:
        unit = {"mgy": "mGy", "ma": "mA", "mas": "mAs", "bq": "Bq", "t": "T", "deg": "°", "ml": "mL"}.get(
            words[-1], words[-1])
        words = words[:-1]
    label = " ".join(words)
    label = label[:1].upper() + label[1:]
    return f"{label} ({unit})" if unit else label


def breakable(text: Any) -> Markup:
    """Escaped text that may wrap after "_", "-", "/" and "." (long identifiers in narrow table columns)."""
    return Markup(re.sub(r"([_\-/.])", r"\1<wbr>", escape(text)))


def escape(value: Any) -> str:
    """HTML-escaped text ("" for None)."""
    return html.escape("" if value is None else str(value), quote=True)


class Markup(str):
    """Text that is already HTML (built by these helpers): inserted as is, not escaped again."""


def cell(value: Any) -> str:
    return value if isinstance(value, Markup) else escape(value)


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, caption: Optional[str] = None,
          table_id: Optional[str] = None, css_class: Optional[str] = None,
          row_classes: Optional[Sequence[Optional[str]]] = None, row_headers: bool = False,
          numeric: Collection[int] = ()) -> Markup:
    """A table with ``<thead>`` (repeated on each printed page) and column header cells; ``row_headers``
    makes each row's first cell a row header; ``numeric`` column indices are right-aligned. Cells are escaped
    unless they are ``Markup``."""
    attributes = "".join(f' {name}="{escape(value)}"' for name, value in (("id", table_id), ("class", css_class))
                         if value)
    head = "".join(f'<th scope="col"{_num(index, numeric)}>{cell(name)}</th>' for index, name in enumerate(header))
    body = []
    for number, row in enumerate(rows):
        row_class = row_classes[number] if row_classes else None
        cells = [f'<th scope="row">{cell(value)}</th>' if row_headers and index == 0
                 else f"<td{_num(index, numeric)}>{cell(value)}</td>" for index, value in enumerate(row)]
        body.append(f'<tr{f" class={chr(34)}{escape(row_class)}{chr(34)}" if row_class else ""}>{"".join(cells)}</tr>')
    title = f"<caption>{cell(caption)}</caption>" if caption else ""
    return Markup(f"<table{attributes}>{title}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _num(index: int, numeric: Collection[int]) -> str:
    return ' class="num"' if index in numeric else ""


def definition_list(pairs: Iterable[tuple[Any, Any]], *, css_class: str = "facts") -> Markup:
    """``<dl>`` of (term, value) pairs; empty values are left out."""
    items = "".join(f"<dt>{cell(term)}</dt><dd>{cell(value)}</dd>" for term, value in pairs
                    if value not in (None, "", [], ()))
    return Markup(f'<dl class="{escape(css_class)}">{items}</dl>')


def record_list(record: Mapping[str, Any], keys: Optional[Iterable[str]] = None) -> Markup:
    """A JSON record (e.g. the image record) as a definition list with readable labels and values."""
    chosen = keys if keys is not None else record.keys()
    return definition_list((humanise(key), readable(record[key])) for key in chosen
                           if record.get(key) not in (None, "", [], {}))


def details(summary: Any, body: Any, *, opened: bool = False, css_class: Optional[str] = None) -> Markup:
    """A collapsible section (closed unless ``opened``)."""
    attributes = (" open" if opened else "") + (f' class="{escape(css_class)}"' if css_class else "")
    return Markup(f"<details{attributes}><summary>{cell(summary)}</summary>{cell(body)}</details>")


def raw_json(document: Any, summary: str = "Raw JSON") -> Markup:
    """The document as indented JSON behind a "details" toggle (for those who need every field)."""
    return details(summary, Markup(f"<pre>{escape(json.dumps(document, indent=1))}</pre>"), css_class="raw")


def verdict_badge(verdict: str) -> Markup:
    """PASS / WARN / FAIL as a coloured label (colour and word: readable without colour too)."""
    return Markup(f'<span class="badge {escape(verdict)}">{escape(verdict.upper())}</span>')


def flag_list(flags: Sequence[Mapping[str, Any]]) -> Markup:
    """Plausibility flags as a red list (code and message); empty when there are none."""
    if not flags:
        return Markup("")
    items = "".join(f'<li><strong>{escape(flag.get("code"))}</strong>{" (blocking)" if flag.get("blocking") else ""}: '
                    f'{escape(flag.get("message"))}</li>' for flag in flags)
    return Markup(f'<ul class="flags" aria-label="plausibility flags">{items}</ul>')


STYLESHEET = """
:root{--pass:#1b7f3a;--warn:#9a6700;--fail:#c62828;--line:#ccd3db;--muted:#5b6670}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
 padding:1.2em 1.6em;color:#1d2329;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.25em;border-bottom:2px solid var(--line);padding-bottom:.2em;
 margin-top:1.6em}h3{font-size:1.08em;margin:1.2em 0 .4em}
.subtitle{color:var(--muted);margin:0 0 .8em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:13px}
caption{text-align:left;font-weight:600;padding:.2em 0;color:var(--muted)}
th,td{border:1px solid var(--line);padding:3px 7px;vertical-align:top;text-align:left}
thead th{background:#eef1f4}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.num{white-space:nowrap}
tbody th{font-weight:600;background:#f8f9fa}
tr.fail td,tr.fail th{background:#fde8e8}tr.warn td,tr.warn th{background:#fff6db}
tr.flagged th{box-shadow:inset 4px 0 var(--fail)}
.badge{display:inline-block;padding:1px 8px;border-radius:3px;color:#fff;font-weight:700;font-size:.9em}
.badge.pass{background:var(--pass)}.badge.warn{background:var(--warn)}.badge.fail{background:var(--fail)}
.verdict{border:2px solid var(--line);border-left-width:8px;padding:.5em .9em;margin:.6em 0}
.verdict.pass{border-color:var(--pass)}.verdict.warn{border-color:var(--warn)}.verdict.fail{border-color:var(--fail)}
.verdict p{margin:.25em 0}
.flags{color:var(--fail);margin:.3em 0;padding-left:1.2em}.flag-codes{color:var(--fail);font-weight:600}
.alert{color:var(--fail);border:2px solid var(--fail);padding:.4em .8em;margin:.6em 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 1.2em;margin:.4em 0 1em}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;overflow-wrap:anywhere}
details{margin:.4em 0}summary{cursor:pointer;color:#174f8c}
pre{background:#f6f7f8;padding:.6em;overflow-x:auto;font-size:12px;white-space:pre-wrap;overflow-wrap:anywhere}
.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
.muted{color:var(--muted)}
@media print{
 @page{size:A4;margin:14mm 12mm}
 body{font-size:9.5pt;max-width:none;padding:0}
 table{font-size:8pt;width:100%;page-break-inside:auto}th,td{padding:2px 4px}
 thead{display:table-header-group}tr,dl,figure,.verdict{break-inside:avoid}
 h2,h3{break-after:avoid}
 details.raw{display:none}
 a{color:inherit;text-decoration:none}
 .badge,.verdict,tr.fail td,tr.warn td,tr.fail th,tr.warn th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""


def html_page(title: str, body: Iterable[str], *, style: str = "") -> str:
    """A complete self-contained page (UTF-8, no external resources) with the shared stylesheet."""
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{escape(title)}</title><style>{STYLESHEET}{style}</style></head><body>",
                      *body, "</body></html>"]) + "\n"
