"""A scene saved as .mrb and reloaded in a fresh scene keeps its volume, segments with provenance tags and
the session document."""

from __future__ import annotations

import numpy as np
import pytest

from StandardSegLib.errors import InputError

pytestmark = pytest.mark.mrml


def test_mrb_round_trip_keeps_segments_and_session(synthetic_study_files, tmp_path):
    import slicer

    from StandardSegLib.mrml.scene import MRMLContext
    from StandardSegLib.mrml.scene_bundle import load_bundle, save_bundle, store_session
    from StandardSegLib.mrml.segments import provenance_tags

    first = MRMLContext.headless()
    volume = first.load_volume(synthetic_study_files.ct_nrrd, "ct")
    mask = slicer.util.arrayFromVolume(volume) > 100
    segmentation = first.add_segmentation(volume, "lesions")
    segment_id = first.add_segment_from_mask(segmentation, mask, "lesion", (1.0, 0.0, 0.0))
    segmentation.GetSegmentation().GetSegment(segment_id).SetTag("StandardSeg.method", "threshold")
    session = {"schema": "test", "protocol": {"id": "ct-liver-lesion"}, "deviations": [], "value": 1.5}
    store_session(first.scene, session)
    path = save_bundle(first, tmp_path / "session.mrb")
    with pytest.raises(InputError, match="exists"):
        save_bundle(first, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.mrb"]  # no temporary left

    second = MRMLContext.headless()
    assert load_bundle(second, path, tmp_path / "unpacked") == session
    reloaded = second.scene.GetFirstNodeByName("lesions")
    reloaded_id = reloaded.GetSegmentation().GetSegmentIdBySegmentName("lesion")
    assert provenance_tags(reloaded, reloaded_id) == {"StandardSeg.method": "threshold"}
    reloaded_volume = second.scene.GetFirstNodeByName("ct")
    assert np.array_equal(slicer.util.arrayFromVolume(reloaded_volume), slicer.util.arrayFromVolume(volume))
    first.scene.Clear(True)
    second.scene.Clear(True)


def test_bad_bundle_paths_are_refused(mrml_context, tmp_path):
    from StandardSegLib.mrml.scene_bundle import load_bundle, save_bundle

    with pytest.raises(InputError, match=".mrb"):
        save_bundle(mrml_context, tmp_path / "scene.zip")
    with pytest.raises(InputError, match="does not exist"):
        load_bundle(mrml_context, tmp_path / "missing.mrb", tmp_path / "x")
