"""Batch manifests: which cases a cohort run holds, read and checked before any case starts.

Two forms (issue 14):

- YAML: a list whose items are a JOB.yaml path (case id = the file's stem), ``{job: PATH, case: ID}``, or an
  inline job document (the ``run`` schema, ``Resources/Schemas/session.schema.json``) with a ``case`` key.
  Any item may carry ``site`` (the centre, for the cohort report's scanner mix). Relative paths in an inline
  job resolve against the manifest's folder; a job file's own paths resolve against that file's folder, as in
  ``standardseg run``.
- CSV: one row per lesion with the columns ``case, image, protocol, operator, registry, lesion, method, seed,
  mask, roi, override, site`` (only ``case``, ``image``, ``protocol``, ``operator`` and ``lesion`` required;
  ``seed`` is ``x;y;z`` in LPS mm; ``mask`` with ``roi`` is an RTSTRUCT and the name of its ROI). Rows of one case must agree
  on its image, protocol, operator, registry, override and site. Paths resolve against the manifest's folder.

Every item is checked up front - schema, case id, input files, protocol in the library, operator in the
registry, RTSTRUCT ROI names - and all bad items are named in one error, so a cohort never stops half-way on a typo.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

import yaml

from StandardSegLib.errors import InputError, StandardSegError
from StandardSegLib.session import SCHEMA_ID, Session, pinned_protocol, resolve_operator

if TYPE_CHECKING:
    from StandardSegLib.protocols.loader import ProtocolLibrary

#: Case ids become folder names under DIR/cases: the lesion-name rule of the session schema.
CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
CSV_COLUMNS = ("case", "image", "protocol", "operator", "registry", "lesion", "method", "seed", "mask", "roi",
               "override", "site")
CSV_REQUIRED = ("case", "image", "protocol", "operator", "lesion")
#: Columns that describe the case, not the lesion: every row of a case must agree on them.
_CASE_COLUMNS = ("image", "protocol", "operator", "registry", "override", "site")


@dataclass(frozen=True)
class BatchCase:
    """One case of a batch: its id (the bundle folder's name), its job and its site (for the cohort QC)."""

    case_id: str
    session: Session
    site: Optional[str] = None


def read_manifest(path: str | Path, library: Optional["ProtocolLibrary"] = None) -> tuple[BatchCase, ...]:
    """The cases of a YAML or CSV manifest, every one checked; ``InputError`` names every bad item."""
    from StandardSegLib.protocols import load_library

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a batch manifest (.yaml, .yml or .csv), found no such file")
    items = list(_csv_items(path) if path.suffix.lower() == ".csv" else _yaml_items(path))
    library = library or load_library()
    cases: list[BatchCase] = []
    problems: list[str] = []
    seen: dict[str, str] = {}
    for where, build in items:
        try:
            case = build()
            _check_case(case, library)
        except StandardSegError as error:
            problems.append(f"{where}: {error}")
            continue
        if case.case_id in seen:
            problems.append(f"{where}: case id '{case.case_id}' is already used by {seen[case.case_id]}")
            continue
        seen[case.case_id] = where
        cases.append(case)
    if not items:
        problems.append("expected at least one case, found none")
    if problems:
        listed = "\n".join(f"  {problem}" for problem in problems)
        raise InputError(f"{path}: {len(problems)} bad item(s), no case was run:\n{listed}")
    return tuple(cases)


# An item is (where it is, for messages; a function building the case), so parsing errors are collected too.
_Item = tuple[str, Callable[[], BatchCase]]


def _yaml_items(path: Path) -> Iterator[_Item]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the manifest ({error})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        raise InputError(f"{path}: {where}invalid YAML: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(document, list):
        raise InputError(f"{path}: expected a YAML list of job files or inline jobs, found "
                         f"{type(document).__name__}")
    for number, item in enumerate(document, start=1):
        yield f"item {number}", lambda item=item: _yaml_case(item, path.parent.absolute())


def _yaml_case(item: Any, folder: Path) -> BatchCase:
    if isinstance(item, str):
        item = {"job": item}
    if not isinstance(item, Mapping):
        raise InputError(f"expected a job file path or a mapping, found {type(item).__name__}")
    document = dict(item)
    case_id, site = document.pop("case", None), document.pop("site", None)
    if site is not None and not isinstance(site, str):
        raise InputError(f"site: expected a text, found {site!r}")
    if "job" in document:
        extra = sorted(set(document) - {"job"})
        if extra:
            raise InputError(f"expected only 'job', 'case' and 'site' beside a job path, found {extra}")
        job = folder / str(document["job"])
        session = Session.from_file(job)
        case_id = job.stem if case_id is None else case_id
    else:
        if case_id is None:
            raise InputError("expected a 'case' key (the case id) in an inline job, found none")
        session = Session.from_dict(document, folder, label="job")
    return BatchCase(_case_id(case_id), session, site)


def _csv_items(path: Path) -> Iterator[_Item]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            rows = list(csv.DictReader(stream))
            header = list(rows[0]) if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: cannot read the manifest ({error})") from None
    missing = [name for name in CSV_REQUIRED if name not in header]
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if missing or unknown:
        raise InputError(f"{path}: expected the columns {list(CSV_COLUMNS)} (required {list(CSV_REQUIRED)}), "
                         f"found missing {missing}, unknown {unknown}")
    by_case: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        cells = {key: (value or "").strip() for key, value in row.items() if key is not None}
        by_case.setdefault(cells["case"], []).append((number, cells))
    for case_id, case_rows in by_case.items():
        lines = ", ".join(str(number) for number, _ in case_rows)
        yield f"case '{case_id}' (line {lines})", lambda c=case_id, r=case_rows: _csv_case(c, r, path.parent.absolute())


def _csv_case(case_id: str, rows: list[tuple[int, dict[str, str]]], folder: Path) -> BatchCase:
    first = rows[0][1]
    for column in _CASE_COLUMNS:
        values = sorted({cells.get(column, "") for _, cells in rows})
        if len(values) > 1:
            raise InputError(f"column {column}: expected one value for the whole case, found {values}")
    for column in CSV_REQUIRED:
        if not first[column]:
            raise InputError(f"column {column}: expected a value, found an empty cell")
    document: dict[str, Any] = {
        "schema": SCHEMA_ID, "image": {"path": first["image"]}, "protocol": {"id": first["protocol"]},
        "operator": {"name": first["operator"], **({"registry": first["registry"]} if first.get("registry") else {})},
        "lesions": [_csv_lesion(number, cells) for number, cells in rows]}
    if first.get("override"):
        document["override"] = first["override"]
    session = Session.from_dict(document, folder, label="job")
    return BatchCase(_case_id(case_id), session, first.get("site") or None)


def _csv_lesion(line: int, cells: Mapping[str, str]) -> dict[str, Any]:
    lesion: dict[str, Any] = {"name": cells["lesion"]}
    if cells.get("method"):
        lesion["method"] = cells["method"]
    if cells.get("seed"):
        lesion["seeds"] = [_seed(line, cells["seed"])]
    if cells.get("roi") and not cells.get("mask"):
        raise InputError(f"line {line}: column roi: expected an RTSTRUCT file in column mask, found none")
    if cells.get("mask"):
        lesion["mask"] = _mask_entry(cells["mask"], cells.get("roi") or None)
    return lesion


def _mask_entry(path: str, roi: Optional[str]) -> Any:
    """A lesion's ``mask`` in the session schema: a path, or ``{path, roi}`` for an RTSTRUCT ROI."""
    return {"path": path, "roi": roi} if roi else path


def _seed(line: int, text: str) -> list[float]:
    """``x;y;z`` (";" because "," separates the CSV's columns) as the point ``roi.parse_point`` reads."""
    from StandardSegLib.roi import parse_point

    try:
        return list(parse_point(text.replace(";", ",")))
    except InputError:
        raise InputError(f"line {line}: column seed: expected 'x;y;z' in LPS mm, found '{text}'") from None


def _case_id(value: Any) -> str:
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or not CASE_ID.match(text):
        raise InputError(f"case: expected an id of letters, digits, '_', '.', '-' (a folder name), found {value!r}")
    return text


def _check_case(case: BatchCase, library: "ProtocolLibrary") -> None:
    """The checks a case would fail first when run: input files present, protocol known, operator registered."""
    session = case.session
    paths = [("image", session.image)]
    for lesion in session.lesions:
        paths += [(f"lesion {lesion.name} {key}", getattr(lesion, key)) for key in ("mask", "seeds_mask")
                  if getattr(lesion, key)]
    paths += [(f"{role} ROI mask", spec.mask) for role, spec in (("lesion", session.lesion_roi),
                                                                  ("background", session.background_roi))
              if spec is not None and spec.mask]
    for what, written in paths:
        if not session.resolve(written).exists():
            raise InputError(f"case {case.case_id}: {what}: expected a file or folder, found none at "
                             f"{session.resolve(written)}")
    for lesion in session.lesions:
        if lesion.mask_roi:
            _check_rtstruct_roi(case, lesion.name, session.resolve(lesion.mask), lesion.mask_roi)
    if session.registry and not session.resolve(session.registry).is_file():
        raise InputError(f"case {case.case_id}: operator registry: expected a file, found none at "
                         f"{session.resolve(session.registry)}")
    pinned_protocol(session, library)
    resolve_operator(session)


def _check_rtstruct_roi(case: BatchCase, lesion: str, path: Path, roi: str) -> None:
    from StandardSegLib.rtstruct import rtstruct_roi_names

    names = rtstruct_roi_names(path)
    if roi not in names:
        raise InputError(f"case {case.case_id}: lesion {lesion} mask {path.name}: expected ROI '{roi}', found "
                         f"the ROIs {names}")
