"""StandardSeg: standardised lesion segmentation for imaging biomarkers (3D Slicer scripted module).

The science lives in ``StandardSegLib`` (pure Python) and its MRML layer ``StandardSegLib.mrml``; this file
only binds them to Slicer's GUI. The same library drives the ``standardseg`` command line and the tests.
"""

import logging
import os
import sys

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin


def _moduleRoots():
    """Folders that may hold StandardSegLib/ and Resources/: beside this file (installed extension) or one
    level up (source tree, module added to Slicer's additional module paths)."""
    moduleDir = os.path.dirname(os.path.abspath(__file__))
    return [moduleDir, os.path.dirname(moduleDir)]


def _ensureLibraryImportable():
    for root in _moduleRoots():
        if os.path.isdir(os.path.join(root, "StandardSegLib")) and root not in sys.path:
            sys.path.insert(0, root)
            return


def _resourcePath(relativePath):
    for root in _moduleRoots():
        candidate = os.path.join(root, "Resources", relativePath)
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(relativePath)


#
# StandardSeg
#

class StandardSeg(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("StandardSeg")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations", "Markups"]
        self.parent.contributors = ["StandardSeg contributors"]
        self.parent.helpText = _(
            "Standardised lesion segmentation for imaging biomarkers (CT, MRI, PET-CT) following the ESR/EORTC "
            "consensus: choose a protocol (SOP), check the image against its specification, display it with the "
            "protocol's window/level, measure reference tissue, segment with the allowed tools and export a "
            "reproducible report. See the "
            '<a href="https://github.com/standardseg/StandardSeg#readme">README</a>.')
        self.parent.acknowledgementText = _(
            "Built on the ESR/EORTC consensus on lesion segmentation (deSouza et al., Insights into Imaging 2022). "
            "Validated with the IBSI digital phantom (Image Biomarker Standardisation Initiative, CC BY 4.0) and "
            "the OncoRay SUV digital reference objects (Vacha et al., CC BY 4.0).")


#
# StandardSegWidget
#

class StandardSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the .ui to the logic; holds no science."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self.ui = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(_resourcePath("UI/StandardSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = StandardSegLogic()

        with slicer.util.tryWithErrorDisplay(_("Failed to load the protocol library."), waitCursor=True):
            for protocol in self.logic.protocols():
                self.ui.protocolSelector.addItem(f"{protocol.title} ({protocol.id} v{protocol.version})", protocol.id)

        self.ui.protocolSelector.connect("currentIndexChanged(int)", self.onProtocolChanged)
        self.ui.volumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateButtonStates)
        self.ui.presetSelector.connect("currentIndexChanged(int)", self.updateButtonStates)
        self.ui.applyPresetButton.connect("clicked(bool)", self.onApplyPreset)
        self.onProtocolChanged()

    def selectedProtocol(self):
        protocolId = self.ui.protocolSelector.currentData
        return self.logic.protocol(protocolId) if protocolId else None

    def onProtocolChanged(self, _index=None):
        protocol = self.selectedProtocol()
        self.ui.presetSelector.clear()
        if protocol is None:
            self.ui.protocolSummaryBrowser.setHtml("")
            return
        for name, preset in protocol.window_presets.items():
            self.ui.presetSelector.addItem(f"{name} (W {preset.window:g} / L {preset.level:g} {preset.unit})", name)
        self.ui.presetSelector.setCurrentIndex(self.ui.presetSelector.findData(protocol.default_window_preset.organ))
        self.ui.protocolSummaryBrowser.setHtml(self.logic.protocolSummaryHtml(protocol))
        self.updateButtonStates()

    def updateButtonStates(self, _unused=None):
        protocol = self.selectedProtocol()
        presetName = self.ui.presetSelector.currentData
        preset = protocol.window_presets.get(presetName) if protocol and presetName else None
        hasVolume = self.ui.volumeSelector.currentNode() is not None
        self.ui.applyPresetButton.enabled = bool(preset and hasVolume and preset.unit != "SUVbw")
        self.ui.applyPresetButton.toolTip = (
            _("PET presets are in SUV: they are applied in the guided session, which knows the SUV factor.")
            if preset and preset.unit == "SUVbw" else _("Apply the protocol's window/level to the image."))

    def onApplyPreset(self):
        protocol = self.selectedProtocol()
        preset = protocol.window_presets[self.ui.presetSelector.currentData]
        with slicer.util.tryWithErrorDisplay(_("Failed to apply the window preset."), waitCursor=True):
            window, level = self.logic.applyWindowPreset(self.ui.volumeSelector.currentNode(), preset)
            logging.info(f"StandardSeg: applied preset {preset.organ} of {protocol.id}: W {window:g} L {level:g}")


#
# StandardSegLogic
#

class StandardSegLogic(ScriptedLoadableModuleLogic):
    """Thin bridge from Slicer to StandardSegLib; usable from the Python console."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        _ensureLibraryImportable()
        self._library = None

    def protocols(self):
        return self._protocolLibrary().all()

    def protocol(self, protocolId):
        return self._protocolLibrary().get(protocolId)

    def _protocolLibrary(self):
        if self._library is None:
            from StandardSegLib.protocols import load_library

            self._library = load_library()
        return self._library

    def applyWindowPreset(self, volumeNode, preset, suvFactor=None):
        from StandardSegLib.mrml.display import apply_window_preset

        return apply_window_preset(volumeNode, preset, suvFactor)

    @staticmethod
    def protocolSummaryHtml(protocol):
        from html import escape

        rows = [f"<b>{escape(protocol.title)}</b> &mdash; {escape(protocol.id)} v{escape(protocol.version)}, "
                f"{escape(protocol.modality)}, sha256 {protocol.content_sha256[:12]}"]
        rows.append("<br><b>" + _("Window presets") + "</b><ul>")
        for name, preset in protocol.window_presets.items():
            rows.append(f"<li>{escape(name)}: W {preset.window:g} / L {preset.level:g} {escape(preset.unit)} "
                        f"<i>({escape(preset.source)})</i></li>")
        rows.append("</ul><b>" + _("Image checks") + "</b><ul>")
        for rule in protocol.image_spec:
            rows.append(f"<li>{escape(rule['check'])} ({escape(rule.get('severity', 'fail'))})</li>")
        for name, rule in protocol.quality_metrics.items():
            rows.append(f"<li>{escape(name.upper())} = {escape(rule['definition'])} &ge; {rule['min']:g}</li>")
        rows.append("</ul>")
        return "".join(rows)


#
# StandardSegTest
#

class StandardSegTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: protocols load and a CT preset is applied to a generated volume."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_protocolsAndPreset()

    def test_protocolsAndPreset(self):
        import numpy as np

        self.delayDisplay("Loading protocols")
        logic = StandardSegLogic()
        protocolIds = {protocol.id for protocol in logic.protocols()}
        self.assertGreaterEqual(len(protocolIds), 10)
        preset = logic.protocol("ct-liver-lesion").window_presets["liver"]

        volumeNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
        slicer.util.updateVolumeFromArray(volumeNode, np.zeros((8, 16, 16), dtype=np.int16))
        window, level = logic.applyWindowPreset(volumeNode, preset)
        displayNode = volumeNode.GetDisplayNode()
        self.assertEqual(displayNode.GetAutoWindowLevel(), 0)
        self.assertAlmostEqual(displayNode.GetWindow(), preset.window)
        self.assertAlmostEqual(displayNode.GetLevel(), preset.level)
        self.delayDisplay("Test passed")
