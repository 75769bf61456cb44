"""ROIs as markups on a real scene: the sphere round-trips through RAS, and a moved point moves the ROI."""

from __future__ import annotations

import pytest

from StandardSegLib.errors import InputError
from StandardSegLib.roi import SphereROI

pytestmark = pytest.mark.mrml


def test_sphere_round_trips_through_a_markup(mrml_context):
    from StandardSegLib.mrml.roi_markups import add_sphere_markup, sphere_from_markup

    liver = SphereROI((-85.0, 15.0, -20.0), 30.0)
    node = add_sphere_markup(mrml_context.scene, liver, "liver", "reference:liver")
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPositionWorld(0, position)
    assert position == pytest.approx([85.0, -15.0, -20.0])  # RAS
    assert sphere_from_markup(node) == liver

    node.SetNthControlPointPositionWorld(0, 80.0, -10.0, -25.0)  # the reader drags the point
    assert sphere_from_markup(node) == SphereROI((-80.0, 10.0, -25.0), 30.0)


def test_markup_without_point_or_diameter_is_refused(mrml_context):
    from StandardSegLib.mrml.roi_markups import DIAMETER_ATTRIBUTE, sphere_from_markup

    node = mrml_context.scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "empty")
    with pytest.raises(InputError, match="no point"):
        sphere_from_markup(node)
    node.AddControlPoint(0.0, 0.0, 0.0)
    with pytest.raises(InputError, match=DIAMETER_ATTRIBUTE):
        sphere_from_markup(node)

