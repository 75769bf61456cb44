"""De-identification of a report bundle: identifiers dropped, UIDs replaced by salted hashes.

Follows the idea of the DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E): the patient
identity attributes are removed (or replaced by a pseudonym where DICOM requires a value) and instance UIDs are
replaced consistently, so a de-identified SEG still references the de-identified images it was drawn on.
UIDs become ``2.25.<decimal>`` (PS3.5 B.2: UUID-derived UIDs) from SHA-256(salt + UID); with a random salt per
bundle the mapping cannot be reversed or linked across bundles, with a given salt it is reproducible.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import pydicom
from pydicom.uid import UID

#: Attributes naming or locating the patient (PS3.15 Table E.1-1, the subset present in PET/CT headers).
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs", "OtherPatientNames",
    "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "MedicalRecordLocator", "IssuerOfPatientID", "AccessionNumber", "StudyID", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber",
    "RequestingPhysician", "AdmittingDiagnosesDescription", "AdditionalPatientHistory", "PatientComments",
)
#: Type 2 attributes (patient and general study modules) that derived objects copy: kept present, but empty.
_EMPTIED = ("PatientBirthDate", "ReferringPhysicianName", "AccessionNumber", "StudyID")
REMOVED = "REMOVED"
MIN_IDENTIFIER_CHARS = 3


@dataclass(frozen=True)
class Deidentifier:
    """Replaces the given UIDs and identifier strings wherever they occur (JSON values, CSV, HTML, headers)."""

    salt: str
    uids: frozenset[str]
    identifiers: frozenset[str]

    @classmethod
    def from_datasets(cls, datasets: Iterable[pydicom.Dataset], salt: Optional[str] = None) -> "Deidentifier":
        """Collect instance UIDs and identifier values from ``datasets``; a random salt unless one is given."""
        uids: set[str] = set()
        identifiers: set[str] = set()

        def collect(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
            if element.VR == "UI" and element.value:
                values = element.value if element.VM > 1 else [element.value]
                uids.update(str(uid) for uid in values if _is_instance_uid(str(uid)))
            elif element.keyword in IDENTIFYING_KEYWORDS and element.VR != "SQ" and element.value not in (None, ""):
                values = element.value if element.VM > 1 else [element.value]
                identifiers.update(str(value) for value in values if str(value).strip())

        for dataset in datasets:
            dataset.walk(collect)
        return cls(salt=salt if salt is not None else secrets.token_hex(16), uids=frozenset(uids),
                   identifiers=frozenset(identifiers))

    def uid(self, uid: str) -> str:
        """The salted-hash replacement of ``uid`` (a valid UID of at most 64 characters)."""
        digest = hashlib.sha256(f"{self.salt}:{uid}".encode("utf-8")).hexdigest()
        return "2.25." + str(int(digest[:30], 16))  # 120 bits: at most 42 characters

    def text(self, text: str) -> str:
        """``text`` with every known UID replaced by its hash and every identifier by ``REMOVED``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(self._replacement, text)

    def document(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string passed through ``text`` (keys included)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(key)): self.document(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.document(item) for item in value]
        return value

    def dataset(self, dataset: pydicom.Dataset) -> pydicom.Dataset:
        """A de-identified copy: identifiers removed (name/ID pseudonymised), instance UIDs hashed."""
        result = copy.deepcopy(dataset)
        pseudonym = "ANON-" + self.uid(str(dataset.get("PatientID", "")))[-12:]  # same patient, same pseudonym
        for keyword in IDENTIFYING_KEYWORDS:
            if keyword in result:
                delattr(result, keyword)
        for keyword in _EMPTIED:
            setattr(result, keyword, "")
        result.PatientName = pseudonym + "^"  # PN: the pseudonym is the family name component
        result.PatientID = pseudonym

        def replace_uids(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
            if element.VR == "UI" and element.value:
                if element.VM > 1:
                    element.value = [self.uid(str(v)) if str(v) in self.uids else v for v in element.value]
                elif str(element.value) in self.uids:
                    element.value = self.uid(str(element.value))

        result.walk(replace_uids)
        if hasattr(result, "file_meta") and "MediaStorageSOPInstanceUID" in result.file_meta:
            meta_uid = str(result.file_meta.MediaStorageSOPInstanceUID)
            if meta_uid in self.uids:
                result.file_meta.MediaStorageSOPInstanceUID = self.uid(meta_uid)
        return result

    @functools.cached_property
    def _pattern(self) -> Optional[re.Pattern[str]]:
        # UIDs must not match inside a longer UID ("1.2.3" in "1.2.34" or "1.2.3.4"); identifiers only as whole
        # words of at least MIN_IDENTIFIER_CHARS, so a StudyID "1" does not rewrite every number in the report.
        parts = [rf"(?<![0-9.]){re.escape(uid)}(?![0-9]|\.[0-9])" for uid in sorted(self.uids, key=len, reverse=True)]
        parts += [rf"(?<!\w){re.escape(value)}(?!\w)" for value in sorted(self.identifiers, key=len, reverse=True)
                  if len(value) >= MIN_IDENTIFIER_CHARS]
        return re.compile("|".join(parts)) if parts else None

    def _replacement(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return self.uid(found) if found in self.uids else REMOVED


def _is_instance_uid(uid: str) -> bool:
    """True for UIDs made for one study/series/instance/frame; False for registered (class, syntax) UIDs."""
    return UID(uid).name == uid
