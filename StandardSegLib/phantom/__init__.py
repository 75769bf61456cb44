"""Synthetic phantoms with known truth: the NEMA/IEC sphere layout in a body-like patient, CT + FDG PET
images, and writers for real DICOM series, NRRD and ``truth.json``."""

from StandardSegLib.phantom.geometry import NEMA_SPHERE_DIAMETERS_MM, PhantomLayout, default_layout
from StandardSegLib.phantom.study_writer import StudyFiles, write_study
from StandardSegLib.phantom.synthetic_study import (PetAcquisition, StudyOptions, SyntheticStudy,
                                                    generate_study)

__all__ = ["NEMA_SPHERE_DIAMETERS_MM", "PetAcquisition", "PhantomLayout", "StudyFiles", "StudyOptions",
           "SyntheticStudy", "default_layout", "generate_study", "write_study"]
