"""The panel's "Phantom (physicist)" section without Qt: ``standardseg phantom`` on an image file or on the
study loaded in the session, the per-sphere table it shows, and the sphere centres as a point list.

The analysis is the library's (``StandardSegLib.phantom_analysis.analyse_phantom`` and
``write_phantom_bundle``, exactly what ``cli/phantom_cmd.py`` calls); this module only gathers the panel's
inputs and turns phantom.json into table rows. Issue 13: "the same in the library and as a panel section".
"""

from __future__ import annotations

import datetime
import pathlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from StandardSegSlicer.session_logic import isFolderChosen, newTimestampedFolder

if TYPE_CHECKING:
    from StandardSegLib.imaging.loaded import LoadedImage
    from StandardSegLib.phantom_analysis import PhantomAnalysis

#: The phantom protocol ``standardseg phantom`` uses by default (its RC bands and sphere list).
PHANTOM_PROTOCOL = "pet-nema-iec-phantom"


@dataclass(frozen=True)
class PhantomResult:
    """What the section shows: the analysis (phantom.json as ``document``) and the bundle folder written."""

    analysis: "PhantomAnalysis"
    bundlePath: pathlib.Path

    @property
    def htmlPath(self) -> pathlib.Path:
        return self.bundlePath / "phantom.html"


@dataclass(frozen=True)
class PhantomRow:
    """One sphere of the table: cell texts, and per EARL version its verdict ("pass"/"fail")."""

    cells: tuple[str, ...]
    verdicts: tuple[str, ...]


def phantomImage(imagePath: Optional[Any], session: Any = None) -> "LoadedImage":
    """The image to analyse: the file or DICOM folder chosen, else the image loaded in the session."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.imaging import load_image

    if isFolderChosen(imagePath):
        return load_image(imagePath)
    if session is not None and session.loaded is not None:
        return session.loaded
    raise InputError("phantom: choose the phantom image (file or DICOM folder) or load it in step 1 first")


def activityArguments(sphereToBackground: float = 0.0, sphereActivity: float = 0.0,
                      backgroundActivity: float = 0.0):
    """The panel's spin boxes (0 = not given) as ``ActivityArguments``: the two activities when both are set,
    else the ratio, else nothing (the library then fits the activity on the 37 mm sphere and says so)."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.phantom_analysis import ActivityArguments

    if (sphereActivity > 0) != (backgroundActivity > 0):
        raise InputError("phantom: give both the sphere and the background activity, or neither")
    if sphereActivity > 0:
        return ActivityArguments(sphere=sphereActivity, background=backgroundActivity)
    return ActivityArguments(ratio=sphereToBackground if sphereToBackground > 0 else None)


def analysePhantom(loaded: "LoadedImage", outputFolder: Any, activity: Any = None, filterFwhmMm: float = 0.0,
                   protocolId: str = PHANTOM_PROTOCOL, now: Optional[datetime.datetime] = None) -> PhantomResult:
    """Analyse the phantom and write its bundle into a new ``phantom-YYYYMMDD-HHMMSS`` folder of
    ``outputFolder`` (``filterFwhmMm`` 0 = no post-filter)."""
    from StandardSegLib.errors import InputError
    from StandardSegLib.phantom_analysis import ActivityArguments, analyse_phantom, write_phantom_bundle
    from StandardSegLib.protocols import load_library

    if not isFolderChosen(outputFolder):  # before the ~10 s analysis
        raise InputError("phantom: choose an output folder first")
    analysis = analyse_phantom(loaded, load_library().get(protocolId), activity=activity or ActivityArguments(),
                               filter_fwhm_mm=filterFwhmMm if filterFwhmMm > 0 else None)
    target = newTimestampedFolder(outputFolder, "phantom", now)
    write_phantom_bundle(analysis, target)
    return PhantomResult(analysis, target)


def earlVersions(document: Mapping[str, Any]) -> list[str]:
    """The EARL versions the protocol has bands for, e.g. ["EARL1", "EARL2"]."""
    return list(document["earl"]["overall"])


def phantomColumns(document: Mapping[str, Any]) -> list[str]:
    return ["Diameter (mm)", "RCmax", "RCpeak", "RC_A50", *earlVersions(document)]


def phantomRows(document: Mapping[str, Any]) -> list[PhantomRow]:
    """One row per sphere, as ``standardseg phantom`` prints them: diameter, the three RCs, the EARL verdicts."""
    versions = earlVersions(document)
    rows = []
    for sphere in document["spheres"]:
        verdicts = tuple(sphere[version.lower()]["verdict"] for version in versions)
        rows.append(PhantomRow(cells=(f"{sphere['diameter_mm']:g}", f"{sphere['rc_max']:.3f}",
                                      f"{sphere['rc_peak']:.3f}", f"{sphere['rc_a50']:.3f}", *verdicts),
                               verdicts=verdicts))
    return rows


def phantomSummary(document: Mapping[str, Any]) -> str:
    """The overall EARL verdicts, the true activity's source and any warning, as a few lines."""
    true = document["true_activity"]
    overall = document["earl"]["overall"]
    lines = ["Overall: " + ", ".join(f"{version} {verdict}" for version, verdict in overall.items()),
             f"True sphere activity {true['value']:.6g} {document['units']} ({true['source']})"]
    lines.extend(f"Warning: {warning}" for warning in document["warnings"])
    return "\n".join(lines)


def addSphereFiducials(scene: Any, document: Mapping[str, Any], name: str = "Phantom spheres") -> Any:
    """A point list with one control point per located sphere centre (labelled by diameter), so the reader
    sees where the analysis placed each sphere. phantom.json holds LPS; markups hold RAS."""
    from StandardSegLib.mrml.roi_markups import flip_lps_ras

    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    for sphere in document["spheres"]:
        x, y, z = flip_lps_ras(tuple(sphere["centre_lps"]))
        index = node.AddControlPoint(x, y, z)
        node.SetNthControlPointLabel(index, f"{sphere['diameter_mm']:g} mm")
        node.SetNthControlPointLocked(index, True)
    return node
