"""Reference-tissue and lesion ROIs as markups, so a reader places them in the viewer and the library measures them.

A sphere ROI is a markups point list with one control point (the centre) whose node carries the diameter as
an attribute; the protocol gives the diameter (e.g. PERCIST: 30 mm liver sphere). Markups are in RAS; the
library's ROIs are in LPS (x and y negated).
"""

from __future__ import annotations

from typing import Any

from StandardSegLib.errors import InputError
from StandardSegLib.roi import SphereROI

DIAMETER_ATTRIBUTE = "StandardSeg.DiameterMm"
ROLE_ATTRIBUTE = "StandardSeg.Role"


def flip_lps_ras(point: tuple[float, float, float]) -> tuple[float, float, float]:
    """LPS <-> RAS (the same map both ways: x and y negated)."""
    return (-float(point[0]), -float(point[1]), float(point[2]))


def add_sphere_markup(scene: Any, sphere: SphereROI, name: str, role: str) -> Any:
    """A point-list node for ``sphere`` (role e.g. "reference:liver" or "lesion")."""
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", name)
    node.AddControlPoint(*flip_lps_ras(sphere.center_lps), name)
    node.SetAttribute(DIAMETER_ATTRIBUTE, f"{sphere.diameter_mm:g}")
    node.SetAttribute(ROLE_ATTRIBUTE, role)
    return node


def sphere_from_markup(node: Any) -> SphereROI:
    """The sphere a reader placed (or moved): centre from the first control point, diameter from the node."""
    if node.GetNumberOfControlPoints() < 1:
        raise InputError(f"markup '{node.GetName()}' has no point: place the ROI centre first")
    diameter = node.GetAttribute(DIAMETER_ATTRIBUTE)
    if not diameter:
        raise InputError(f"markup '{node.GetName()}' has no {DIAMETER_ATTRIBUTE} attribute (diameter in mm)")
    centre_ras = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(0, centre_ras)
    return SphereROI(flip_lps_ras(tuple(centre_ras)), float(diameter))

