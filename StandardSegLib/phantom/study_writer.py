"""Write a synthetic study to disk: DICOM series, NRRD volumes and ``truth.json``.

Layout of ``out_dir``::

    CT/CT_0001.dcm ...       CT Image Storage series (HU)
    PT/PT_0001.dcm ...       PET Image Storage series (Bq/mL, per-slice slope)
    nrrd/ct.nrrd             CT in HU (float32)
    nrrd/pet_suv.nrrd        PET in SUVbw (float32)
    nrrd/lesions.nrrd        lesion labels on the CT grid (label = sphere id)
    nrrd/lesions_pet.nrrd    lesion labels on the PET grid
    truth.json               the truth (``StudyTruth.to_dict``) plus the DICOM UIDs
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Optional

import SimpleITK as sitk

from StandardSegLib.jsonable import to_jsonable
from StandardSegLib.errors import InputError
from StandardSegLib.phantom.dicom_headers import common_header, ct_header, pet_header
from StandardSegLib.phantom.dicom_writer import deterministic_uid, write_dicom_series
from StandardSegLib.phantom.synthetic_study import SyntheticStudy
from StandardSegLib.progress import ProgressCallback, report


@dataclass(frozen=True)
class StudyFiles:
    """Paths of everything ``write_study`` wrote."""

    root: Path
    ct_dicom: tuple[Path, ...]
    pet_dicom: tuple[Path, ...]
    ct_nrrd: Path
    pet_suv_nrrd: Path
    lesions_nrrd: Path
    lesions_pet_nrrd: Path
    truth_json: Path

    def all_files(self) -> tuple[Path, ...]:
        return (*self.ct_dicom, *self.pet_dicom, self.ct_nrrd, self.pet_suv_nrrd, self.lesions_nrrd,
                self.lesions_pet_nrrd, self.truth_json)

    def moved_to(self, new_root: Path) -> "StudyFiles":
        """The same files after the whole study folder was moved (renamed) to ``new_root``."""
        def move(path: Path) -> Path:
            return new_root / path.relative_to(self.root)

        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = tuple(map(move, value)) if isinstance(value, tuple) else move(value)
        return StudyFiles(**values)


def write_study(study: SyntheticStudy, out_dir: Path, progress: Optional[ProgressCallback] = None) -> StudyFiles:
    """Write ``study`` into ``out_dir`` (which must not exist or be empty). UIDs derive from the study seed."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(f"study folder {out_dir} is not empty: choose another folder or remove it first")
    options, acquisition = study.truth.options, study.truth.pet_acquisition
    seed = options.seed
    common = common_header(deterministic_uid(seed, "study"), deterministic_uid(seed, "frame-of-reference"),
                           acquisition)

    def part(start: float, stop: float, fraction: float, message: str) -> None:
        report(progress, start + (stop - start) * fraction, message)

    headers = {"CT": ct_header(common, options, acquisition), "PT": pet_header(common, options, acquisition)}
    for modality, header in headers.items():
        header["SeriesInstanceUID"] = deterministic_uid(seed, "series", modality)
    ct_files = write_dicom_series(study.ct_hu, out_dir / "CT", "CT", headers["CT"], seed=seed,
                                  progress=lambda f, m: part(0.0, 0.6, f, m))
    pet_files = write_dicom_series(study.pet_bqml, out_dir / "PT", "PT", headers["PT"], seed=seed,
                                   progress=lambda f, m: part(0.6, 0.85, f, m))
    report(progress, 0.85, "writing NRRD volumes")
    nrrd_dir = out_dir / "nrrd"
    nrrd_dir.mkdir()
    volumes = {"ct": study.ct_hu, "pet_suv": study.pet_suv, "lesions": study.lesion_labels_ct,
               "lesions_pet": study.lesion_labels_pet}
    for name, image in volumes.items():
        sitk.WriteImage(image, str(nrrd_dir / f"{name}.nrrd"), useCompression=True)
    truth = study.truth.to_dict()
    truth["dicom"] = {
        "study_instance_uid": common["StudyInstanceUID"],
        "frame_of_reference_uid": common["FrameOfReferenceUID"],
        "ct_series_instance_uid": headers["CT"]["SeriesInstanceUID"],
        "pet_series_instance_uid": headers["PT"]["SeriesInstanceUID"],
    }
    truth_path = out_dir / "truth.json"
    truth_path.write_text(json.dumps(to_jsonable(truth), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    report(progress, 1.0, "study written")
    return StudyFiles(root=out_dir, ct_dicom=tuple(ct_files), pet_dicom=tuple(pet_files),
                      ct_nrrd=nrrd_dir / "ct.nrrd", pet_suv_nrrd=nrrd_dir / "pet_suv.nrrd",
                      lesions_nrrd=nrrd_dir / "lesions.nrrd", lesions_pet_nrrd=nrrd_dir / "lesions_pet.nrrd",
                      truth_json=truth_path)

