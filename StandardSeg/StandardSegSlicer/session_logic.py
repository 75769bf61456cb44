"""The console API of the StandardSeg module: a thin camelCase layer over ``GuidedSession``.

Every step is one call to ``StandardSegLib.mrml.guided_session.GuidedSession``; what is added here is only
what a panel or a console user needs around it: one current session, the protocol and operator look-ups
before a session exists, the pinned dependencies, and readable errors when a call comes too early. No
science: measurements, gates and segmentations are the library's.

It needs an ``MRMLContext``: the running application's (``MRMLContext.from_slicer_app()``, the default) or
any other, e.g. a headless scene in the tests. ``StandardSeg.StandardSegLogic`` adds Slicer's
ScriptedLoadableModuleLogic and the module's parameter node on top. Coordinates are DICOM patient
coordinates (LPS, mm), as everywhere in StandardSeg; ``placeRoiAtRas`` takes a point clicked in a view.
"""

from __future__ import annotations

import datetime
import pathlib
from typing import Any, Iterable, Optional


def _inputError(message: str) -> Exception:
    from StandardSegLib.errors import InputError

    return InputError(message)


def isFolderChosen(folder: Optional[Any]) -> bool:
    """A path from the panel that is not unset: not None, "" (an empty path line edit) or "." (``Path()``)."""
    return folder is not None and str(folder) not in ("", ".")


def newTimestampedFolder(outputFolder: Any, prefix: str, now: Optional[datetime.datetime] = None) -> pathlib.Path:
    """A fresh ``PREFIX-YYYYMMDD-HHMMSS`` folder name inside ``outputFolder`` (as the demo names bundles);
    ``outputFolder`` is created if the reader typed a new one. The bundle writers refuse an existing folder."""
    if not isFolderChosen(outputFolder):
        raise _inputError(f"{prefix}: choose an output folder first")
    pathlib.Path(outputFolder).mkdir(parents=True, exist_ok=True)
    return pathlib.Path(outputFolder) / (now or datetime.datetime.now()).strftime(f"{prefix}-%Y%m%d-%H%M%S")


class GuidedSessionLogic:
    """One current ``GuidedSession`` on an MRML context, driven by camelCase calls."""

    def __init__(self, roots: Iterable[pathlib.Path], context: Any = None) -> None:
        self._roots = [pathlib.Path(root) for root in roots]  # where requirements/constraints.txt may be
        self._context = context
        self._library = None
        self.session = None

    def context(self):
        """The MRML context given to the constructor, else the running application's."""
        if self._context is None:
            from StandardSegLib.mrml.scene import MRMLContext

            self._context = MRMLContext.from_slicer_app()
        return self._context

    # --- dependencies and library look-ups ----------------------------------------------------------------

    def missingDependencies(self):
        """The pinned packages not installed at their version, as ``NAME==VERSION`` (nothing is installed)."""
        from StandardSegSlicer.dependencies import find_constraints, missing, read_pins, slicer_requirements

        return [pin.requirement for pin in missing(slicer_requirements(read_pins(find_constraints(self._roots))))]

    def ensureDependencies(self):
        """Install the missing packages after asking; True when everything StandardSegLib needs is there."""
        from StandardSegSlicer.dependencies import ensure_installed

        return ensure_installed(self._roots)

    def protocols(self):
        return self._protocolLibrary().all()

    def protocol(self, protocolId):
        return self._protocolLibrary().get(protocolId)

    def _protocolLibrary(self):
        if self._library is None:
            from StandardSegLib.protocols import load_library

            self._library = load_library()
        return self._library

    @staticmethod
    def operatorNames(registry=None):
        from StandardSegLib.operators import OperatorRegistry

        return sorted(OperatorRegistry.open(registry).operators)

    def trainingStatus(self, protocolId, operatorName, registry=None):
        """The operator's training judged by the protocol's rule (``TrainingStatus``), before any session."""
        from StandardSegLib.operators import OperatorRegistry, protocol_training_status

        operator = OperatorRegistry.open(registry).get(operatorName)
        return protocol_training_status(operator, self.protocol(protocolId))

    @staticmethod
    def dicomSeries(folder, progress=None):
        """The series of a DICOM folder, from headers only (``SeriesSummary`` list)."""
        from StandardSegLib.imaging.dicom_scan import scan_series

        return scan_series(folder, progress=progress)

    # --- session ------------------------------------------------------------------------------------------

    def startSession(self, protocolId, operatorName, registry=None):
        """A new guided session; the previous one, if any, stops holding its window preset."""
        from StandardSegLib.mrml.guided_session import GuidedSession

        return self.adoptSession(GuidedSession.start(self.context(), protocolId, operatorName, registry=registry))

    def resumeSession(self, mrbPath, unpackDir):
        """Open a scene saved by ``saveScene`` (it replaces the scene) and continue its session."""
        from StandardSegLib.mrml.guided_session import GuidedSession

        self.endSession()
        return self.adoptSession(GuidedSession.resume(self.context(), mrbPath, unpackDir))

    def adoptSession(self, session):
        """Make ``session`` (e.g. one made in the console or by ``run_scene_demo``) the current session."""
        if self.session is not None and self.session is not session:
            self.session.stop_hold()
        self.session = session
        return session

    def endSession(self):
        if self.session is not None:
            self.session.stop_hold()
        self.session = None

    def requireSession(self):
        if self.session is None:
            raise _inputError("no StandardSeg session: start one (startSession) or resume a saved one first")
        return self.session

    def status(self):
        """Each step's state ("done", "todo", "blocked"), or None without a session."""
        return self.session.status() if self.session else None

    # 1. study

    def loadImage(self, path, seriesUid=None, progress=None):
        return self.requireSession().load_image(path, series_uid=seriesUid, progress=progress)

    def useVolume(self, volumeNode, progress=None):
        if volumeNode is None:
            raise _inputError("image: select a volume, or load a file or a DICOM folder")
        return self.requireSession().use_volume(volumeNode, progress=progress)

    def valuesNode(self):
        """The volume lesions are measured and shown on (an SUV volume for PET once checked), or None."""
        return self.session.values_node if self.session else None

    # 2. image check

    def placeRoi(self, role, centerLps, diameterMm=None, referenceTissue=None):
        return self.requireSession().place_roi(role, centerLps, diameterMm, reference_tissue=referenceTissue or None)

    def placeRoiAtRas(self, role, centerRas, diameterMm=None, referenceTissue=None):
        """``placeRoi`` at a point clicked in a view: Slicer's RAS, so x and y are negated for LPS."""
        centerLps = (-float(centerRas[0]), -float(centerRas[1]), float(centerRas[2]))
        return self.placeRoi(role, centerLps, diameterMm, referenceTissue)

    def roiDescriptions(self):
        """Role -> "centre (x, y, z) mm LPS, diameter d mm", for the ROI markups as they stand now."""
        if self.session is None:
            return {}
        from StandardSegLib.mrml.roi_markups import sphere_from_markup
        from StandardSegSlicer.presentation import sphere_text

        return {role: sphere_text(sphere_from_markup(node)) for role, node in self.session.roi_nodes.items()}

    def checkImage(self, referenceTissue=None, progress=None):
        return self.requireSession().check_image(reference_tissue=referenceTissue or None, progress=progress)

    def overrideGate(self, reason):
        return self.requireSession().override_gate(reason)

    def gate(self):
        """The latest ``GateEvaluation``, or None."""
        return self.session.gate if self.session else None

    # 3. display

    def holdWindowPreset(self, organ=None):
        return self.requireSession().hold_window_preset(organ or None)

    def deviations(self):
        return self.session.deviations if self.session else []

    # 4. reference tissue

    def referenceMeasurement(self):
        """The reference-tissue measurement of the latest check (``ReferenceMeasurement``), or None."""
        return self.session.reference if self.session else None

    # 5. segment

    def allowedMethods(self):
        return self.requireSession().allowed_methods()

    def segmentationNode(self):
        """The session's segmentation node; created (for the Segment Editor) once the check allows segmenting."""
        session = self.session
        if session is None:
            return None
        if session.gate is None or not session.gate.verdict.allows_segmentation:
            return session.segmentation_node
        return session.ensure_segmentation_node()

    def seedsFromMarkup(self, markupsNode):
        if markupsNode is None or markupsNode.GetNumberOfControlPoints() == 0:
            raise _inputError("seeds: select a point list and place at least one point in the lesion")
        return self.requireSession().seeds_from_markup(markupsNode)

    def backgroundSeedsFromMarkup(self, markupsNode):
        """Background seeds (grow-from-seeds) from an optional point list: none when no list or no point."""
        if markupsNode is None or markupsNode.GetNumberOfControlPoints() == 0:
            return []
        return self.requireSession().seeds_from_markup(markupsNode)

    def segmentLesion(self, name, seedsLps, method=None, parameters=None, progress=None, backgroundSeedsLps=()):
        return self.requireSession().segment_lesion(name, seedsLps, method=method or None, parameters=parameters,
                                                    background_seeds_lps=backgroundSeedsLps, progress=progress)

    def growFromPaintedSeeds(self, name, lesionSegmentId, backgroundSegmentId, seedsPath, parameters=None,
                             progress=None):
        """grow-from-seeds from two segments painted in the Segment Editor, as Slicer's Grow from seeds effect
        (the same GrowCut, extent and seeds): the segments are saved as the seeds file ``seedsPath`` (an input
        of the session) and replaced by the grown lesion; returns its segment id."""
        session = self.requireSession()
        path = session.seeds_from_segments(lesionSegmentId, backgroundSegmentId, seedsPath)
        return session.segment_lesion(name, method="grow-from-seeds", parameters=parameters, seeds_mask=path,
                                      progress=progress)

    def failedLesions(self):
        """Lesions whose method failed and that no segment replaced since (``GuidedSession.failed_lesions``)."""
        return self.session.failed_lesions() if self.session else []

    @staticmethod
    def nextLesionName(name):
        """A default name for the next lesion: ``lesion-1`` -> ``lesion-2``, ``liver`` -> ``liver-2``."""
        stem, _dash, number = name.rpartition("-")
        return f"{stem}-{int(number) + 1}" if stem and number.isdigit() else f"{name}-2"

    # 6. validate

    def validate(self, reference, referenceRoi=None):
        """Agreement of every segment with a reference segmentation node or mask file; ``referenceRoi`` names
        the ROI of an RT Structure Set (see ``referenceRoiNames``)."""
        if reference is None or reference == "":
            raise _inputError("validation: select a reference segmentation or a reference file")
        return self.requireSession().validate(reference, reference_roi=referenceRoi or None)

    @staticmethod
    def referenceRoiNames(path):
        """The ROI names of a reference file that is an RT Structure Set ([] for a label image), so the panel can
        ask which ROI to compare with."""
        from StandardSegLib.rtstruct import is_rtstruct, rtstruct_roi_names

        return rtstruct_roi_names(path) if is_rtstruct(path) else []

    # 7. report

    isFolderChosen = staticmethod(isFolderChosen)

    @staticmethod
    def newReportFolder(outputFolder, now=None):
        """A fresh ``report-YYYYMMDD-HHMMSS`` folder inside ``outputFolder`` (``newTimestampedFolder``)."""
        return newTimestampedFolder(outputFolder, "report", now)

    def exportReport(self, outDir, overwrite=False, deidentify=False, progress=None):
        """Write the report bundle into ``outDir`` (which must not exist unless ``overwrite``)."""
        return self.requireSession().export_report(outDir, overwrite=overwrite, deidentify=deidentify,
                                                   progress=progress)

    def saveScene(self, path, overwrite=False):
        """Save the scene with the session inside as ``.mrb``; ``resumeSession`` continues from it."""
        return self.requireSession().save_scene(path, overwrite=overwrite)
