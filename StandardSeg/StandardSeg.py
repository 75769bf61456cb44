"""StandardSeg: standardised lesion segmentation for imaging biomarkers (3D Slicer scripted module).

The science lives in ``StandardSegLib`` (pure Python) and its MRML layer: ``StandardSegLib.mrml.guided_session``
walks the seven guided steps on a scene. This file only binds it to Slicer: the Widget wires the .ui to the
Logic, the Logic hands Slicer's scene to a ``GuidedSession``, the Test runs a whole session on generated data.
The library is imported lazily, inside methods: loading the module must not need its Python packages, which
are installed on first use (``StandardSegSlicer.dependencies``).
"""

import html
import logging
import os
import pathlib
import sys
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Default, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin
from StandardSegSlicer.feedback import long_task, report_errors
from StandardSegSlicer.session_logic import GuidedSessionLogic

README_URL = "https://github.com/standardseg/StandardSeg#readme"


def _moduleRoots():
    """Folders that may hold StandardSegLib/, Resources/ and requirements/: beside this file (installed
    extension) or one level up (source tree, module folder added to Slicer's additional module paths)."""
    moduleDir = os.path.dirname(os.path.abspath(__file__))
    return [moduleDir, os.path.dirname(moduleDir)]


def _ensureImportable():
    """Make StandardSegSlicer (beside this file) and StandardSegLib (beside it or one level up) importable."""
    for root in _moduleRoots():
        for package in ("StandardSegSlicer", "StandardSegLib"):
            if os.path.isdir(os.path.join(root, package)) and root not in sys.path:
                sys.path.insert(0, root)


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
        self.parent.dependencies = ["Segmentations", "Markups", "Volumes"]
        self.parent.contributors = ["StandardSeg contributors"]
        self.parent.helpText = _(
            "Standardised lesion segmentation for imaging biomarkers (CT, MRI, PET-CT) following the ESR/EORTC "
            "consensus, in seven guided steps: choose a protocol (SOP) and operator and load the study; check the "
            "image against the protocol's specification (SNR, CNR, PET TBR) before segmenting; display it with the "
            "protocol's window/level, held; measure the reference tissue; segment with the tools and methods the "
            "protocol allows, with provenance per segment; optionally validate against a reference; export a "
            "reproducible report. Scripted use from the Python console: StandardSegLogic. See the "
            '<a href="{url}">README</a>.').format(url=README_URL)
        self.parent.acknowledgementText = _(
            "Built on the ESR/EORTC consensus on lesion segmentation (deSouza et al., Insights into Imaging 2022, "
            "doi:10.1186/s13244-022-01287-4). Validated with the IBSI digital phantom (Image Biomarker "
            "Standardisation Initiative, CC BY 4.0) and the OncoRay SUV digital reference objects (Vacha et al., "
            "CC BY 4.0). Radiomics by pyradiomics; DICOM SEG and SR by highdicom.")


#
# StandardSegParameterNode
#


@parameterNodeWrapper
class StandardSegParameterNode:
    """What the panel's choices are, saved with the scene.

    protocolId, referenceTissue, windowPreset, segmentationMethod: chosen in combo boxes whose items depend on
    the protocol, so the widget binds them itself; the others are bound by ``connectGui`` through the
    ``SlicerParameterName`` properties in StandardSeg.ui.
    """

    protocolId: str
    operatorName: str
    inputVolume: vtkMRMLScalarVolumeNode
    lesionRoiDiameterMm: Annotated[float, WithinRange(1.0, 300.0), Default(20.0)]
    referenceTissue: str
    overrideReason: str
    windowPreset: str
    segmentationMethod: str
    seedMarkups: vtkMRMLMarkupsFiducialNode
    backgroundSeedMarkups: vtkMRMLMarkupsFiducialNode
    lesionName: Annotated[str, Default("lesion-1")]
    segmentationNode: vtkMRMLSegmentationNode
    referenceSegmentation: vtkMRMLSegmentationNode
    outputFolder: pathlib.Path
    deidentify: bool


#
# StandardSegWidget
#


class StandardSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Binds the .ui to the logic; holds no science."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._segmentEditorNode = None
        self._roiPlacement = None  # (role, temporary point list) while the reader clicks an ROI centre
        self._observedDisplayNode = None
        self._observedSegmentation = None
        self._resuming = False
        self._phantomResult = None  # the last phantom analysis (phantom_logic.PhantomResult)

    # --- set-up -------------------------------------------------------------------------------------------

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(_resourcePath("UI/StandardSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = StandardSegLogic()

        self.stepSections = {
            "study": self.ui.studyCollapsibleButton,
            "check": self.ui.checkCollapsibleButton,
            "display": self.ui.displayCollapsibleButton,
            "reference": self.ui.referenceCollapsibleButton,
            "segment": self.ui.segmentCollapsibleButton,
            "validate": self.ui.validateCollapsibleButton,
            "report": self.ui.reportCollapsibleButton,
        }
        self.stepTitles = {step: section.text for step, section in self.stepSections.items()}
        self.ui.dependenciesLabel.hide()
        self.ui.installDependenciesButton.hide()
        for table in (self.ui.gateTable, self.ui.validationTable, self.ui.phantomTable, self.ui.lesionChangesTable,
                      self.ui.agreementTable):
            table.horizontalHeader().setStretchLastSection(True)
        self.ui.openPhantomReportButton.enabled = False
        self._setupSegmentEditor()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndImportEvent, self.onSceneEndImport)
        self._connectSignals()

        self.initializeParameterNode()
        self.refreshDependencies()
        self.onSessionChanged()

    def _connectSignals(self):
        ui = self.ui
        ui.installDependenciesButton.connect("clicked(bool)", self.onInstallDependencies)
        ui.protocolSelector.connect("currentIndexChanged(int)", self.onProtocolChanged)
        ui.operatorLineEdit.connect("editingFinished()", self.updateTrainingStatus)
        ui.loadImageFileButton.connect("clicked(bool)", self.onLoadImageFile)
        ui.loadImageFolderButton.connect("clicked(bool)", self.onLoadImageFolder)
        ui.startSessionButton.connect("clicked(bool)", self.onStartSession)
        ui.resumeSessionButton.connect("clicked(bool)", self.onResumeSession)
        ui.placeLesionRoiButton.connect("clicked(bool)", lambda _checked: self.onPlaceRoi("lesion"))
        ui.placeBackgroundRoiButton.connect("clicked(bool)", lambda _checked: self.onPlaceRoi("background"))
        ui.referenceTissueSelector.connect("currentIndexChanged(int)", self.onReferenceTissueChanged)
        ui.checkImageButton.connect("clicked(bool)", self.onCheckImage)
        ui.overrideGateButton.connect("clicked(bool)", self.onOverrideGate)
        ui.presetSelector.connect("currentIndexChanged(int)", self.onPresetChanged)
        ui.applyPresetButton.connect("clicked(bool)", self.onApplyPreset)
        ui.methodSelector.connect("currentIndexChanged(int)", self.onMethodChanged)
        ui.seedMarkupsSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onSeedMarkupsChanged)
        ui.backgroundSeedMarkupsSelector.connect("currentNodeChanged(vtkMRMLNode*)",
                                                 ui.backgroundSeedPlaceWidget.setCurrentNode)
        ui.segmentWithMethodButton.connect("clicked(bool)", self.onSegmentWithMethod)
        ui.validateButton.connect("clicked(bool)", self.onValidate)
        ui.validateFileButton.connect("clicked(bool)", self.onValidateFile)
        ui.exportReportButton.connect("clicked(bool)", self.onExportReport)
        ui.saveSceneButton.connect("clicked(bool)", self.onSaveScene)
        ui.analysePhantomButton.connect("clicked(bool)", self.onAnalysePhantom)
        ui.openPhantomReportButton.connect("clicked(bool)", self.onOpenPhantomReport)
        ui.compareButton.connect("clicked(bool)", self.onCompare)
        ui.agreementButton.connect("clicked(bool)", self.onAgreement)
        ui.agreementFilesButton.connect("clicked(bool)", self.onAgreementFiles)
        for selector in (ui.readerASegmentationSelector, ui.readerBSegmentationSelector,
                         ui.agreementVolumeSelector):
            selector.connect("currentNodeChanged(vtkMRMLNode*)", self.updateButtonStates)

    def _setupSegmentEditor(self):
        """The embedded Segment Editor: its parameter node must be set before its scene (qMRMLSegmentEditorWidget
        docs); the session owns the segmentation and the volume, so their selectors are hidden."""
        editor = self.ui.segmentEditorWidget
        editor.setMaximumNumberOfUndoStates(10)
        self._selectSegmentEditorNode()
        editor.setMRMLScene(slicer.mrmlScene)
        editor.setSegmentationNodeSelectorVisible(False)
        if hasattr(editor, "setSourceVolumeNodeSelectorVisible"):
            editor.setSourceVolumeNodeSelectorVisible(False)
        else:  # Slicer < 5.2 called the source volume "master"
            editor.setMasterVolumeNodeSelectorVisible(False)
        editor.unorderedEffectsVisible = False

    def _selectSegmentEditorNode(self):
        node = slicer.mrmlScene.GetSingletonNode("StandardSeg", "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.vtkMRMLSegmentEditorNode()
            node.SetSingletonTag("StandardSeg")
            node = slicer.mrmlScene.AddNode(node)
        if node is not self._segmentEditorNode:
            self._segmentEditorNode = node
            self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(node)

    def cleanup(self):
        self._cancelRoiPlacement()
        self._observeDisplayNode(None)
        self._observeSegmentation(None)
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()
        self._selectSegmentEditorNode()
        if hasattr(self.ui.segmentEditorWidget, "installKeyboardShortcuts"):
            self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self):
        self._cancelRoiPlacement()
        editor = self.ui.segmentEditorWidget
        editor.setActiveEffect(None)
        if hasattr(editor, "uninstallKeyboardShortcuts"):
            editor.uninstallKeyboardShortcuts()
        editor.removeViewObservations()
        self._releaseParameterNode()

    def onSceneStartClose(self, caller, event):
        """The session's nodes go with the scene: forget the session (unless a saved one is being resumed)."""
        self._cancelRoiPlacement()
        self._observeDisplayNode(None)
        self._observeSegmentation(None)
        self.setParameterNode(None)
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self._segmentEditorNode = None
        if not self._resuming:
            self.logic.endSession()
            self.onSessionChanged()

    def onSceneEndClose(self, caller, event):
        self._selectSegmentEditorNode()
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onSceneEndImport(self, caller, event):
        self._selectSegmentEditorNode()
        if self.parent.isEntered:
            self.initializeParameterNode()

    # --- parameter node -----------------------------------------------------------------------------------

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode):
        """Bind the panel to a parameter node (two-way for the widgets named in the .ui)."""
        self._releaseParameterNode()
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            self.onParameterNodeModified()

    def _releaseParameterNode(self):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)

    def onParameterNodeModified(self, caller=None, event=None):
        """Show the parameter node's choices in the combo boxes ``connectGui`` cannot bind, then the buttons."""
        if not self._parameterNode:
            return
        for selector, value in ((self.ui.protocolSelector, self._parameterNode.protocolId),
                                (self.ui.referenceTissueSelector, self._parameterNode.referenceTissue),
                                (self.ui.presetSelector, self._parameterNode.windowPreset),
                                (self.ui.methodSelector, self._parameterNode.segmentationMethod)):
            index = selector.findData(value) if value else -1
            if index >= 0 and index != selector.currentIndex:
                selector.setCurrentIndex(index)
        self.updateButtonStates()

    def _setParameter(self, name, value):
        if self._parameterNode and getattr(self._parameterNode, name) != value:
            setattr(self._parameterNode, name, value)

    # --- dependencies -------------------------------------------------------------------------------------

    def refreshDependencies(self):
        """Show what is missing (without installing anything) or fill the protocol list."""
        missing = self.logic.missingDependencies()
        self.ui.dependenciesLabel.setVisible(bool(missing))
        self.ui.installDependenciesButton.setVisible(bool(missing))
        if missing:
            self.ui.dependenciesLabel.text = _(
                "StandardSeg needs Python packages that are not installed in Slicer yet: {packages}. "
                "Install them with the button below (you are asked before anything is installed).").format(
                packages=", ".join(missing))
            return
        self.fillProtocols()

    def onInstallDependencies(self):
        self._dependenciesReady()

    def _dependenciesReady(self):
        """Install the pinned packages on first use, asking first; False when declined or failed."""
        ready = False
        with report_errors(_("Failed to install the Python packages StandardSeg needs.")):
            ready = self.logic.ensureDependencies()
            if not ready:
                slicer.util.warningDisplay(_("StandardSeg cannot run without its Python packages."),
                                           windowTitle=_("StandardSeg"))
        if ready:
            self.refreshDependencies()
        return ready

    # --- 1. study -----------------------------------------------------------------------------------------

    def fillProtocols(self):
        if self.ui.protocolSelector.count:
            return
        with report_errors(_("Failed to load the protocol library.")):
            items = [(f"{protocol.title} ({protocol.id} v{protocol.version})", protocol.id)
                     for protocol in self.logic.protocols()]
            self._fillCombo(self.ui.protocolSelector, items, None)
            self.ui.operatorLineEdit.setCompleter(qt.QCompleter(self.logic.operatorNames(), self.ui.operatorLineEdit))
            wanted = self._parameterNode.protocolId if self._parameterNode else ""
            index = self.ui.protocolSelector.findData(wanted) if wanted else -1
            self.ui.protocolSelector.setCurrentIndex(max(index, 0))
            self.onProtocolChanged()

    def selectedProtocol(self):
        protocolId = self.ui.protocolSelector.currentData
        return self.logic.protocol(protocolId) if protocolId else None

    def activeProtocol(self):
        """The session's protocol while a session runs, else the one selected for the next session."""
        return self.logic.session.protocol if self.logic.session else self.selectedProtocol()

    def onProtocolChanged(self, _index=None):
        from StandardSegSlicer.presentation import protocol_summary_html

        protocol = self.selectedProtocol()
        self._setParameter("protocolId", protocol.id if protocol else "")
        self.ui.protocolSummaryBrowser.setHtml(protocol_summary_html(protocol) if protocol else "")
        self.updateTrainingStatus()
        if not self.logic.session:
            self.fillProtocolChoices()
        self.updateSessionStatus()

    def updateTrainingStatus(self):
        protocol, name = self.selectedProtocol(), self.ui.operatorLineEdit.text.strip()
        if not protocol or not name:
            self.ui.trainingStatusLabel.text = _("Enter the operator's name to see their training status.")
            return
        from StandardSegLib.errors import StandardSegError
        from StandardSegSlicer.presentation import training_text

        try:
            self.ui.trainingStatusLabel.text = training_text(self.logic.trainingStatus(protocol.id, name))
        except StandardSegError as error:
            self.ui.trainingStatusLabel.text = html.escape(str(error))
        self.updateButtonStates()

    def onLoadImageFile(self):
        path = qt.QFileDialog.getOpenFileName(
            slicer.util.mainWindow(), _("Load image"), "",
            _("Images (*.nrrd *.nhdr *.nii *.nii.gz *.mha *.mhd *.dcm);;All files (*)"))
        if path:
            self._startAndLoad(path)

    def onLoadImageFolder(self):
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Load DICOM series folder"))
        if not folder:
            return
        series = None
        with long_task(_("Reading DICOM headers..."), _("Failed to read the DICOM folder.")) as progress:
            series = self.logic.dicomSeries(folder, progress=progress)
        if series is None:
            return
        seriesUid = None
        if len(series) > 1:
            seriesUid = self._chooseSeries(series)
            if seriesUid is None:
                return
        self._startAndLoad(folder, seriesUid)

    def _chooseSeries(self, series):
        """Ask which series of a folder to load (image series first; the library refuses the others)."""
        series = sorted(series, key=lambda summary: not summary.is_image)
        choices = [summary.describe() for summary in series]
        choice = qt.QInputDialog.getItem(slicer.util.mainWindow(), _("Choose a series"),
                                         _("The folder holds several series:"), choices, 0, False)
        return series[choices.index(choice)].series_instance_uid if choice in choices else None

    def _startAndLoad(self, path, seriesUid=None):
        if not self._dependenciesReady() or not self._confirmNewSession():
            return
        with long_task(_("Loading the image..."), _("Failed to load the image.")) as progress:
            self.logic.startSession(self.ui.protocolSelector.currentData, self.ui.operatorLineEdit.text.strip())
            volumeNode = self.logic.loadImage(path, seriesUid=seriesUid, progress=progress)
            self._setParameter("inputVolume", volumeNode)
        self.onSessionChanged()

    def onStartSession(self):
        if not self._dependenciesReady() or not self._confirmNewSession():
            return
        with long_task(_("Reading the image..."), _("Failed to start the session.")) as progress:
            self.logic.startSession(self.ui.protocolSelector.currentData, self.ui.operatorLineEdit.text.strip())
            self.logic.useVolume(self.ui.volumeSelector.currentNode(), progress=progress)
        self.onSessionChanged()

    def _confirmNewSession(self):
        if not self.logic.session:
            return True
        return slicer.util.confirmOkCancelDisplay(
            _("Start a new session? The current session's nodes stay in the scene but are no longer tracked; "
              "save the scene first to keep the session."), windowTitle=_("StandardSeg"))

    def onResumeSession(self):
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Resume a StandardSeg session"), "",
                                              _("Slicer data bundle (*.mrb)"))
        if not path or not self._dependenciesReady():
            return
        if not slicer.util.confirmOkCancelDisplay(_("Opening the saved scene replaces the current scene. Continue?"),
                                                  windowTitle=_("StandardSeg")):
            return
        self._resuming = True
        try:
            with long_task(_("Resuming the session..."), _("Failed to resume the session.")):
                self.logic.resumeSession(path, slicer.util.tempDirectory("StandardSeg-resume"))
        finally:
            self._resuming = False
        self.initializeParameterNode()
        self.onSessionChanged()

    def updateSessionStatus(self):
        session, selected = self.logic.session, self.selectedProtocol()
        if session is None:
            self.ui.sessionStatusLabel.text = _(
                "No session. Choose the protocol, enter the operator and select or load the image.")
            return
        text = _("Session: {protocol} v{version}, operator {operator}, image {image}.").format(
            protocol=session.protocol.id, version=session.protocol.version, operator=session.operator.name,
            image=session.volume_node.GetName() if session.volume_node else _("none yet"))
        if selected is not None and selected.id != session.protocol.id:
            text += " " + _("The protocol selected above applies to the next session.")
        self.ui.sessionStatusLabel.text = text

    # --- 2. image check -----------------------------------------------------------------------------------

    def onPlaceRoi(self, role):
        """Let the reader click the ROI centre in a slice view; the point then becomes the session's sphere."""
        self._cancelRoiPlacement()
        pointList = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode",
                                                       slicer.mrmlScene.GenerateUniqueName(f"{role} centre"))
        pointList.CreateDefaultDisplayNodes()
        self._roiPlacement = (role, pointList)
        self.addObserver(pointList, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self.onRoiCentrePlaced)
        selectionNode = slicer.app.applicationLogic().GetSelectionNode()
        selectionNode.SetReferenceActivePlaceNodeClassName("vtkMRMLMarkupsFiducialNode")
        selectionNode.SetActivePlaceNodeID(pointList.GetID())
        interactionNode = slicer.app.applicationLogic().GetInteractionNode()
        interactionNode.SetPlaceModePersistence(0)
        interactionNode.SetCurrentInteractionMode(interactionNode.Place)

    def onRoiCentrePlaced(self, caller, event):
        role, pointList = self._roiPlacement
        centreRas = [0.0, 0.0, 0.0]
        pointList.GetNthControlPointPositionWorld(0, centreRas)
        # The point list is removed outside its own event callback.
        qt.QTimer.singleShot(0, lambda: self._placeRoi(role, centreRas))

    def _placeRoi(self, role, centreRas):
        self._cancelRoiPlacement()
        with report_errors(_("Failed to place the {role} ROI.").format(role=role)):
            # The lesion sphere takes the panel's diameter; the background one the protocol's reference tissue.
            diameterMm = self._parameterNode.lesionRoiDiameterMm if role == "lesion" else None
            self.logic.placeRoiAtRas(role, centreRas, diameterMm,
                                     referenceTissue=self.ui.referenceTissueSelector.currentData)
        self.updateRoiStatus()
        self.updateButtonStates()

    def _cancelRoiPlacement(self):
        if self._roiPlacement is None:
            return
        _role, pointList = self._roiPlacement
        self._roiPlacement = None
        self.removeObserver(pointList, slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent, self.onRoiCentrePlaced)
        if pointList.GetScene() is not None:
            slicer.mrmlScene.RemoveNode(pointList)

    def updateRoiStatus(self):
        descriptions = self.logic.roiDescriptions()
        self.ui.roiStatusLabel.text = "\n".join(f"{role}: {text}" for role, text in descriptions.items()) or _(
            "No ROI placed yet. The lesion ROI is needed for SNR/CNR/TBR, the background ROI for the reference tissue.")

    def onReferenceTissueChanged(self, _index=None):
        self._setParameter("referenceTissue", self.ui.referenceTissueSelector.currentData or "")

    def onCheckImage(self):
        with long_task(_("Checking the image..."), _("Failed to check the image.")) as progress:
            self.logic.checkImage(referenceTissue=self.ui.referenceTissueSelector.currentData, progress=progress)
        self.onSessionChanged()

    def onOverrideGate(self):
        with report_errors(_("Failed to override the image check.")):
            self.logic.overrideGate(self._parameterNode.overrideReason)
        self.onSessionChanged()

    def showGate(self, gate):
        """The gate table: one row per item, the verdict cell in green / amber / red."""
        from StandardSegSlicer.presentation import VERDICT_COLORS, gate_rows, gate_summary

        table = self.ui.gateTable
        rows = gate_rows(gate.verdict.items) if gate else []
        table.setRowCount(len(rows))
        for rowIndex, row in enumerate(rows):
            for column, text in enumerate((row.item, row.measured, row.threshold, row.verdict)):
                cell = qt.QTableWidgetItem(text)
                cell.setToolTip(row.tooltip)
                table.setItem(rowIndex, column, cell)
            background, foreground = VERDICT_COLORS.get(row.verdict, ("#ffffff", "#000000"))
            verdictCell = table.item(rowIndex, 3)
            verdictCell.setBackground(qt.QBrush(qt.QColor(background)))
            verdictCell.setForeground(qt.QBrush(qt.QColor(foreground)))
        table.resizeColumnsToContents()
        self.ui.gateOverallLabel.text = gate_summary(gate.verdict) if gate else _(
            "Place the ROIs, then check the image against the protocol before segmenting.")

    # --- 3. display ---------------------------------------------------------------------------------------

    def onPresetChanged(self, _index=None):
        self._setParameter("windowPreset", self.ui.presetSelector.currentData or "")

    def onApplyPreset(self):
        with report_errors(_("Failed to apply the window preset.")):
            self.logic.holdWindowPreset(self.ui.presetSelector.currentData)
        self.onSessionChanged()

    def _observeDisplayNode(self, displayNode):
        """Refresh the deviation list when the reader changes the window/level (the hold records them)."""
        if self._observedDisplayNode is not None:
            self.removeObserver(self._observedDisplayNode, vtk.vtkCommand.ModifiedEvent, self.onDisplayModified)
        self._observedDisplayNode = displayNode
        if displayNode is not None:
            self.addObserver(displayNode, vtk.vtkCommand.ModifiedEvent, self.onDisplayModified)

    def onDisplayModified(self, caller, event):
        # After the hold's own observer has judged the change.
        qt.QTimer.singleShot(0, self.updateDeviations)

    def updateDeviations(self):
        from StandardSegSlicer.presentation import deviation_text

        deviations = self.logic.deviations()
        self.ui.deviationsList.clear()
        for deviation in deviations:
            self.ui.deviationsList.addItem(deviation_text(deviation))
        self.ui.deviationsLabel.text = (
            _("{count} window/level change(s) outside the protocol's range:").format(count=len(deviations))
            if deviations else _("No window/level deviation recorded."))

    # --- 5. segment ---------------------------------------------------------------------------------------

    def onMethodChanged(self, _index=None):
        method = self.ui.methodSelector.currentData or ""
        self._setParameter("segmentationMethod", method)
        protocol = self.activeProtocol()
        parameters = protocol.segmentation_methods.get(method, {}) if protocol and method else {}
        self.ui.methodSelector.toolTip = _("Protocol defaults: {parameters}").format(
            parameters=", ".join(f"{key}={value}" for key, value in parameters.items()) or _("none"))

    def onSeedMarkupsChanged(self, node):
        self.ui.seedPlaceWidget.setCurrentNode(node)
        self.updateButtonStates()

    def onSegmentWithMethod(self):
        name = self._parameterNode.lesionName.strip()
        method = self.ui.methodSelector.currentData
        with long_task(_("Segmenting {name}...").format(name=name), _("Failed to segment the lesion.")) as progress:
            seeds = self.logic.seedsFromMarkup(self.ui.seedMarkupsSelector.currentNode())
            background = self.logic.backgroundSeedsFromMarkup(self.ui.backgroundSeedMarkupsSelector.currentNode())
            self.logic.segmentLesion(name, seeds, method=method, progress=progress, backgroundSeedsLps=background)
            self.ui.segmentResultLabel.text = _("Segment '{name}' added with {method}.").format(name=name, method=method)
            self._setParameter("lesionName", self.logic.nextLesionName(name))
        self.onSessionChanged()

    def showFailedLesions(self):
        """Lesions whose method failed, under the segment list (hidden when there are none)."""
        from StandardSegSlicer.presentation import failed_lesion_rows

        rows = failed_lesion_rows(self.logic.failedLesions())
        self._fillTable(self.ui.failedLesionsTable, rows)
        self.ui.failedLesionsTable.setVisible(bool(rows))

    def updateSegmentEditor(self):
        """Limit the editor to the protocol's effects and point it at the session's segmentation and values."""
        editor = self.ui.segmentEditorWidget
        protocol = self.activeProtocol()
        editor.setEffectNameOrder(protocol.editor_effects if protocol else [])
        editor.unorderedEffectsVisible = False
        segmentationNode = self.logic.segmentationNode()
        editor.setSegmentationNode(segmentationNode)
        valuesNode = self.logic.valuesNode() if segmentationNode else None
        if hasattr(editor, "setSourceVolumeNode"):
            editor.setSourceVolumeNode(valuesNode)
        else:
            editor.setMasterVolumeNode(valuesNode)
        self._setParameter("segmentationNode", segmentationNode)
        self._observeSegmentation(segmentationNode)

    def _observeSegmentation(self, segmentationNode):
        """Segments drawn or deleted in the Segment Editor change which steps are done."""
        events = (slicer.vtkSegmentation.SegmentAdded, slicer.vtkSegmentation.SegmentRemoved)
        if self._observedSegmentation is not None:
            for event in events:
                self.removeObserver(self._observedSegmentation, event, self.onSegmentsChanged)
        self._observedSegmentation = segmentationNode
        if segmentationNode is not None:
            for event in events:
                self.addObserver(segmentationNode, event, self.onSegmentsChanged)

    def onSegmentsChanged(self, caller, event):
        qt.QTimer.singleShot(0, self.updateStepStates)

    # --- 6. validate --------------------------------------------------------------------------------------

    def onValidate(self):
        with long_task(_("Validating..."), _("Failed to validate the segments.")):
            self.showValidation(self.logic.validate(self.ui.referenceSegmentationSelector.currentNode()))
        self.onSessionChanged()

    def onValidateFile(self):
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Reference segmentation"), "",
                                              _("Segmentations (*.seg.nrrd *.nrrd *.nii *.nii.gz *.mha);;"
                                                "RT Structure Sets (*.dcm);;All files (*)"))
        if not path:
            return
        roi, names = None, None
        with report_errors(_("Failed to read the reference file.")):
            names = self.logic.referenceRoiNames(path)
        if names is None:
            return
        if len(names) > 1:  # an RT Structure Set: the reader picks the reference ROI
            roi = qt.QInputDialog.getItem(slicer.util.mainWindow(), _("Reference ROI"),
                                          _("ROI of the RT Structure Set to compare the segments with:"), names, 0, False)
            if not roi:
                return
        with long_task(_("Validating..."), _("Failed to validate the segments.")):
            self.showValidation(self.logic.validate(path, roi))
        self.onSessionChanged()

    def showValidation(self, rows):
        self._fillTable(self.ui.validationTable, rows)

    @staticmethod
    def _fillTable(table, rows):
        """A read-only table of per-row dicts: one column per key, values as short texts."""
        from StandardSegSlicer.presentation import format_value, table_columns

        columns = table_columns(rows)
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(rows))
        for rowIndex, row in enumerate(rows):
            for column, key in enumerate(columns):
                table.setItem(rowIndex, column, qt.QTableWidgetItem(format_value(row.get(key))))
        table.resizeColumnsToContents()

    # --- 7. report ----------------------------------------------------------------------------------------

    def onExportReport(self):
        outputFolder = self._parameterNode.outputFolder
        with long_task(_("Exporting the report..."), _("Failed to export the report.")) as progress:
            bundle = self.logic.exportReport(self.logic.newReportFolder(outputFolder),
                                             deidentify=self._parameterNode.deidentify, progress=progress)
            url = qt.QUrl.fromLocalFile(str(bundle.path)).toString()
            self.ui.reportResultLabel.text = _('Report written to <a href="{url}">{path}</a> ({count} files).').format(
                url=url, path=html.escape(str(bundle.path)), count=len(bundle.files))
        self.onSessionChanged()

    def onSaveScene(self):
        folder = self._parameterNode.outputFolder
        start = str(folder / "standardseg-session.mrb") if self.logic.isFolderChosen(folder) else ""
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), _("Save scene and session"), start,
                                              _("Slicer data bundle (*.mrb)"))
        if not path:
            return
        # The file dialog has already asked before replacing an existing file of exactly this name.
        overwrite = path.lower().endswith(".mrb") and os.path.exists(path)
        if not path.lower().endswith(".mrb"):
            path += ".mrb"
        with long_task(_("Saving the scene..."), _("Failed to save the scene.")):
            saved = self.logic.saveScene(path, overwrite=overwrite)
            self.ui.reportResultLabel.text = _("Scene and session saved to {path}.").format(path=html.escape(str(saved)))

    # --- phantom (physicist), outside the guided steps -----------------------------------------------------

    def onAnalysePhantom(self):
        """``standardseg phantom`` on the chosen image (else the study of step 1), shown as the per-sphere table."""
        from StandardSegSlicer.phantom_logic import (activityArguments, addSphereFiducials, analysePhantom,
                                                     phantomImage)

        if not self._dependenciesReady():
            return
        ui = self.ui
        with long_task(_("Analysing the phantom..."), _("Failed to analyse the phantom.")):
            loaded = phantomImage(ui.phantomImagePathLineEdit.currentPath, self.logic.session)
            activity = activityArguments(ui.phantomRatioSpinBox.value, ui.phantomSphereActivitySpinBox.value,
                                         ui.phantomBackgroundActivitySpinBox.value)
            result = analysePhantom(loaded, ui.phantomOutputPathLineEdit.currentPath, activity,
                                    ui.phantomFilterFwhmSpinBox.value)
            self._phantomResult = result
            self.showPhantom(result)
            if ui.phantomShowSpheresCheckBox.checked:
                addSphereFiducials(slicer.mrmlScene, result.analysis.document)

    def showPhantom(self, result):
        """The per-sphere table, each EARL verdict cell in green (pass) or red (fail), and the overall lines."""
        from StandardSegSlicer.phantom_logic import phantomColumns, phantomRows, phantomSummary
        from StandardSegSlicer.presentation import VERDICT_COLORS

        document = result.analysis.document
        table = self.ui.phantomTable
        columns = phantomColumns(document)
        rows = phantomRows(document)
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        table.setRowCount(len(rows))
        for rowIndex, row in enumerate(rows):
            firstVerdict = len(row.cells) - len(row.verdicts)
            for column, text in enumerate(row.cells):
                cell = qt.QTableWidgetItem(text)
                if column >= firstVerdict:
                    background, foreground = VERDICT_COLORS.get(text, ("#ffffff", "#000000"))
                    cell.setBackground(qt.QBrush(qt.QColor(background)))
                    cell.setForeground(qt.QBrush(qt.QColor(foreground)))
                table.setItem(rowIndex, column, cell)
        table.resizeColumnsToContents()
        summary = "<br>".join(html.escape(line) for line in phantomSummary(document).splitlines())
        self.ui.phantomSummaryLabel.text = summary + "<br>" + _('Bundle written to <a href="{url}">{path}</a>.').format(
            url=qt.QUrl.fromLocalFile(str(result.bundlePath)).toString(), path=html.escape(str(result.bundlePath)))
        self.ui.openPhantomReportButton.enabled = True

    def onOpenPhantomReport(self):
        if self._phantomResult is not None:
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(self._phantomResult.htmlPath)))

    # --- follow-up and reader agreement, outside the guided steps ------------------------------------------

    def onCompare(self):
        """``standardseg compare`` of the baseline bundle with the follow-up (else this session's report)."""
        from StandardSegSlicer.followup_logic import (compareBundles, comparisonLines, lesionChangeRows,
                                                      sessionBundle)

        if not self._dependenciesReady():
            return
        ui = self.ui
        with long_task(_("Comparing with the baseline..."), _("Failed to compare the time points.")):
            followup = ui.followupPathLineEdit.currentPath or sessionBundle(self.logic.session)
            document, target = compareBundles(ui.baselinePathLineEdit.currentPath, followup,
                                              ui.followupOutputPathLineEdit.currentPath)
            lines = "<br>".join(html.escape(line) for line in comparisonLines(document))
            url = qt.QUrl.fromLocalFile(str(target / "compare.html")).toString()
            ui.comparisonLabel.text = lines + "<br>" + _('<a href="{url}">compare.html</a>').format(url=url)
            self._fillTable(ui.lesionChangesTable, lesionChangeRows(document))

    def onAgreement(self):
        """``standardseg agreement`` of the selected readers' segmentation nodes (segments matched in order)."""
        from StandardSegSlicer.followup_logic import readerAgreement, segmentMaskFiles

        if not self._dependenciesReady():
            return
        ui = self.ui
        nodes = [ui.readerASegmentationSelector.currentNode(), ui.readerBSegmentationSelector.currentNode(),
                 ui.readerCSegmentationSelector.currentNode()]
        with long_task(_("Computing reader agreement..."), _("Failed to compute the reader agreement.")):
            workFolder = pathlib.Path(slicer.util.tempDirectory("StandardSegAgreement"))
            masks, readers = segmentMaskFiles(nodes, ui.agreementVolumeSelector.currentNode(), workFolder)
            self.showAgreement(*readerAgreement(masks, readers, ui.followupOutputPathLineEdit.currentPath))

    def onAgreementFiles(self):
        """Agreement of mask files chosen in a dialog: one file per reader, one lesion."""
        from StandardSegSlicer.followup_logic import readerAgreement

        paths = qt.QFileDialog.getOpenFileNames(slicer.util.mainWindow(), _("One mask per reader"), "",
                                                _("Masks (*.seg.nrrd *.nrrd *.nii *.nii.gz *.mha);;All files (*)"))
        if not paths or not self._dependenciesReady():
            return
        readers = [f"R{number} ({pathlib.Path(path).name})" for number, path in enumerate(paths, start=1)]
        with long_task(_("Computing reader agreement..."), _("Failed to compute the reader agreement.")):
            self.showAgreement(*readerAgreement([list(paths)], readers, self.ui.followupOutputPathLineEdit.currentPath))

    def showAgreement(self, document, target):
        from StandardSegSlicer.followup_logic import agreementRows, volumeIccText

        self._fillTable(self.ui.agreementTable, agreementRows(document))
        url = qt.QUrl.fromLocalFile(str(target / "agreement.html")).toString()
        self.ui.agreementLabel.text = html.escape(volumeIccText(document)) + "<br>" + _(
            '<a href="{url}">agreement.html</a>').format(url=url)

    # --- state of the panel -------------------------------------------------------------------------------

    def onSessionChanged(self):
        """Refresh every step from the session: what is done, what may be used, what each step shows."""
        from StandardSegSlicer.presentation import reference_text

        session = self.logic.session
        if session:
            index = self.ui.protocolSelector.findData(session.protocol.id)
            if index >= 0 and index != self.ui.protocolSelector.currentIndex:
                self.ui.protocolSelector.setCurrentIndex(index)
        self.fillProtocolChoices()
        self.updateSessionStatus()
        self.updateRoiStatus()
        self.showGate(self.logic.gate())
        self.updateDeviations()
        valuesNode = self.logic.valuesNode()
        self._observeDisplayNode(valuesNode.GetDisplayNode() if valuesNode else None)
        reference = self.logic.referenceMeasurement()
        self.ui.referenceMeasurementLabel.text = reference_text(reference.to_dict() if reference else None)
        self.updateSegmentEditor()
        self.showFailedLesions()
        self.updateStepStates()
        self.updateButtonStates()

    def fillProtocolChoices(self):
        """The combo boxes whose items come from the protocol: reference tissue, window presets, methods."""
        protocol = self.activeProtocol()
        tissues = [entry["name"] for entry in protocol.reference_tissue] if protocol else []
        presets = protocol.window_presets if protocol else {}
        methods = self.logic.allowedMethods() if self.logic.session else (
            [name for name in protocol.segmentation_methods if name != "manual"] if protocol else [])
        self._fillCombo(self.ui.referenceTissueSelector, [(name, name) for name in tissues],
                        self._parameterNode.referenceTissue if self._parameterNode else "")
        self._fillCombo(self.ui.presetSelector,
                        [(f"{name} (W {preset.window:g} / L {preset.level:g} {preset.unit})", name)
                         for name, preset in presets.items()],
                        (self._parameterNode.windowPreset if self._parameterNode else "")
                        or (protocol.default_window_preset.organ if protocol else ""))
        self._fillCombo(self.ui.methodSelector, [(name, name) for name in methods],
                        (self._parameterNode.segmentationMethod if self._parameterNode else "")
                        or (protocol.default_segmentation_method if protocol else ""))
        self.onReferenceTissueChanged()
        self.onPresetChanged()
        self.onMethodChanged()

    @staticmethod
    def _fillCombo(combo, items, preferred):
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            for text, data in items:
                combo.addItem(text, data)
            index = combo.findData(preferred) if preferred else -1
            combo.setCurrentIndex(index if index >= 0 else (0 if items else -1))
        finally:
            combo.blockSignals(wasBlocked)

    def updateStepStates(self):
        """Sections after an incomplete step are disabled; each title shows whether its step is done."""
        from StandardSegSlicer.presentation import BLOCKED, DONE, step_states

        suffixes = {DONE: " \u2714", BLOCKED: " \u2014 " + _("blocked")}
        for state in step_states(self.logic.status()):
            section = self.stepSections[state.step]
            section.enabled = state.enabled
            section.text = self.stepTitles[state.step] + suffixes.get(state.status, "")
            section.toolTip = state.reason

    def updateButtonStates(self, caller=None, event=None):
        """Buttons that would fail for want of an input are disabled, with the reason as tooltip."""
        ui, session = self.ui, self.logic.session
        hasProtocol = ui.protocolSelector.currentIndex >= 0
        hasOperator = bool(ui.operatorLineEdit.text.strip())
        ui.loadImageFileButton.enabled = ui.loadImageFolderButton.enabled = hasProtocol and hasOperator
        ui.startSessionButton.enabled = hasProtocol and hasOperator and ui.volumeSelector.currentNode() is not None
        ui.startSessionButton.toolTip = _("Start a guided session with this protocol, operator and image.") \
            if ui.startSessionButton.enabled else _("Choose a protocol, enter the operator and select an image first.")
        gate = self.logic.gate()
        reason = self._parameterNode.overrideReason.strip() if self._parameterNode else ""
        ui.overrideGateButton.enabled = bool(gate and not gate.verdict.allows_segmentation and reason)
        ui.applyPresetButton.enabled = bool(session and ui.presetSelector.currentIndex >= 0)
        seeds = ui.seedMarkupsSelector.currentNode()
        ui.segmentWithMethodButton.enabled = bool(session and ui.methodSelector.currentIndex >= 0 and seeds)
        ui.validateButton.enabled = ui.referenceSegmentationSelector.currentNode() is not None
        folder = self._parameterNode.outputFolder if self._parameterNode else None
        ui.exportReportButton.enabled = self.logic.isFolderChosen(folder)
        ui.exportReportButton.toolTip = _("Write the report bundle into a new report-* folder of the output folder.") \
            if ui.exportReportButton.enabled else _("Choose an output folder first.")
        ui.agreementButton.enabled = bool(ui.readerASegmentationSelector.currentNode()
                                          and ui.readerBSegmentationSelector.currentNode()
                                          and ui.agreementVolumeSelector.currentNode())


#
# StandardSegLogic
#


class StandardSegLogic(ScriptedLoadableModuleLogic, GuidedSessionLogic):
    """The module's logic: ``GuidedSessionLogic`` (the console API over ``GuidedSession``, see its docstring)
    on Slicer's own scene, plus the module's parameter node.

    Example (Slicer's Python console, in the repository folder after ``./run.sh demo``; the panel shows the
    same session, since ``getModuleLogic`` returns the panel's logic)::

        logic = slicer.util.getModuleLogic("StandardSeg")
        logic.startSession("fdg-pet-ct-oncology", "Demo Reader", registry="standardseg-demo/study/operators.json")
        logic.loadImage("standardseg-demo/study/PT")
        logic.placeRoi("lesion", (21.4, 49.5, -20.0), 37.0)     # LPS mm, diameter mm
        logic.placeRoi("background", (-85.0, 15.0, -20.0))     # the protocol's 30 mm liver sphere
        logic.checkImage().verdict.overall                      # "pass"
        logic.holdWindowPreset()
        logic.segmentLesion("sphere-6", [(21.4, 49.5, -20.0)])
        logic.exportReport(logic.newReportFolder("standardseg-demo/reports"))
    """

    def __init__(self, context=None):
        ScriptedLoadableModuleLogic.__init__(self)
        _ensureImportable()
        GuidedSessionLogic.__init__(self, [pathlib.Path(root) for root in _moduleRoots()], context)

    def getParameterNode(self):
        return StandardSegParameterNode(super().getParameterNode())


#
# StandardSegTest
#


class StandardSegTest(ScriptedLoadableModuleTest):
    """Runs inside Slicer: a whole guided session on generated data, through the same function pytest runs
    headless (``StandardSegLib.mrml.scene_demo.run_scene_demo``), then the panel showing that session."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_guidedSessionOnGeneratedStudy()
        self.setUp()
        self.test_panelFollowsSession()

    def _runSceneDemo(self, logic):
        self.assertTrue(logic.ensureDependencies(), "StandardSeg's Python packages are missing")
        from StandardSegLib.mrml.scene_demo import run_scene_demo

        workDir = pathlib.Path(slicer.util.tempDirectory("StandardSegTest"))
        return run_scene_demo(logic.context(), workDir, progress=lambda fraction, message: logging.info(
            f"StandardSegTest {fraction:.0%}: {message}"))

    def test_guidedSessionOnGeneratedStudy(self):
        self.delayDisplay("Running a guided session on a generated PET/CT study")
        logic = StandardSegLogic()
        result = self._runSceneDemo(logic)
        from StandardSegLib.mrml.segments import provenance_tags

        session = result.session
        self.assertEqual(result.gate.verdict.overall, "pass")
        self.assertTrue(result.gate.verdict.allows_segmentation)
        self.assertEqual({step for step, state in session.status().items() if state != "done"}, set())

        # The 10 mm sphere at 4:1 may be refused (41 % of its blurred max lies in the background, so the segment
        # runs to the protocol's size cap: a blocking flag); every other sphere is segmented.
        spheres = len(result.truth.spheres)
        segmented = len(result.segment_ids)
        self.assertIn(segmented, (spheres - 1, spheres))
        # a refused sphere stays listed beside the segments, with the method's reason
        self.assertEqual(len(session.failed_lesions()), spheres - segmented)
        segmentation = session.segmentation_node
        self.assertEqual(segmentation.GetSegmentation().GetNumberOfSegments(), segmented)
        self.assertEqual(len(result.validation), segmented)
        for segmentId in result.segment_ids:
            tags = provenance_tags(segmentation, segmentId)
            self.assertEqual(tags["DICOM.SegmentAlgorithmType"], "SEMIAUTOMATIC")
            self.assertEqual(tags["StandardSeg.protocol"], f"{session.protocol.id} {session.protocol.version}")
            self.assertEqual(tags["StandardSeg.protocol_sha256"], session.protocol.content_sha256)
            self.assertEqual(tags["StandardSeg.gate"], "pass")
            self.assertEqual(tags["StandardSeg.method"], session.protocol.default_segmentation_method)
            # The stored provenance counts exactly the voxels Slicer holds for the segment.
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, session.values_node)
            self.assertEqual(int(tags["StandardSeg.voxel_count"]), int((mask > 0).sum()))

        bundle = pathlib.Path(result.bundle.path)
        self.assertTrue({"report.json", "measurements.csv", "report.html"} <= set(result.bundle.files))
        for name in result.bundle.files:
            self.assertTrue((bundle / name).is_file(), name)
        self.assertTrue(pathlib.Path(result.mrb_path).is_file())
        self.delayDisplay("Guided session passed")

    def test_panelFollowsSession(self):
        self.delayDisplay("Showing a finished session in the panel")
        slicer.util.selectModule("StandardSeg")
        widget = slicer.modules.StandardSegWidget
        for step in ("check", "display", "reference", "segment", "validate", "report"):
            self.assertFalse(widget.stepSections[step].enabled, step)

        result = self._runSceneDemo(widget.logic)
        widget.logic.adoptSession(result.session)
        widget.onSessionChanged()
        for step, section in widget.stepSections.items():
            self.assertTrue(section.enabled, step)
        self.assertEqual(widget.ui.gateTable.rowCount, len(result.gate.verdict.items))
        methods = [widget.ui.methodSelector.itemData(index) for index in range(widget.ui.methodSelector.count)]
        self.assertEqual(methods, result.session.allowed_methods())
        self.assertEqual(widget.ui.segmentEditorWidget.segmentationNode(), result.session.segmentation_node)
        self.delayDisplay("Panel test passed")
