"""Cohort mode: the lesions of a batch folder (``standardseg batch``'s ``DIR/cases/<case>/``), each case's image
from its bundle's session.json and each lesion's mask from the bundle's ``segments/<lesion>.seg.nrrd``, so a
robustness study runs on exactly the segments the cohort table reports (ICC(1,1) over the whole cohort).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from StandardSegLib.errors import InputError

CASES_DIR, SESSION_JSON, SEGMENTS_DIR, SEGMENT_SUFFIX = "cases", "session.json", "segments", ".seg.nrrd"


@dataclass(frozen=True)
class CohortLesion:
    """One lesion of a batch: ``case/lesion`` name, its case's image path (and series) and its segment file."""

    name: str
    image: Path
    segment: Path
    series_uid: Optional[str] = None


def cohort_lesions(batch_dir: str | Path) -> tuple[CohortLesion, ...]:
    """Every segment of every finished case of ``batch_dir`` (cases sorted by id, lesions by name)."""
    from StandardSegLib.session import Session

    cases = Path(batch_dir) / CASES_DIR
    if not cases.is_dir():
        raise InputError(f"{batch_dir}: expected a batch folder with {CASES_DIR}/ (standardseg batch output)")
    lesions = []
    for case in sorted(path for path in cases.iterdir() if path.is_dir() and not path.name.startswith(".")):
        session_file = case / SESSION_JSON
        if not session_file.is_file():
            continue  # a failed case has no bundle
        try:
            document = json.loads(session_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise InputError(f"{session_file}: cannot read the case's session ({error})") from None
        session = Session.from_dict(document, case, label=str(session_file))
        image = session.resolve(session.image)
        if not image.exists():
            raise InputError(f"{session_file}: image.path: the case's image is not at {image} (a de-identified "
                             f"bundle does not say where its image is)")
        for segment in sorted((case / SEGMENTS_DIR).glob(f"*{SEGMENT_SUFFIX}")):
            lesions.append(CohortLesion(f"{case.name}/{segment.name[:-len(SEGMENT_SUFFIX)]}", image, segment,
                                        session.series_uid))
    if len(lesions) < 2:
        raise InputError(f"{batch_dir}: cohort robustness needs at least 2 lesions, found {len(lesions)}")
    return tuple(lesions)
