"""De-identification of a report bundle: identifiers dropped, UIDs replaced by salted hashes, dates shifted.

Follows the DICOM Basic Application Level Confidentiality Profile (PS3.15 Annex E) with three of its options:

- Retain Longitudinal Temporal Information with Modified Dates (E.3.6): every date from the input headers
  (DA values, the date part of DT values) is moved back by the same per-bundle number of days, wherever it
  appears (DICOM outputs, report.json, report.html); times of day stay, so intervals (injection to scan,
  uptake time) are unchanged. The offset comes from the salt: random per bundle, reproducible with a given
  salt.
- Retain Patient Characteristics (E.3.7): sex, age, weight and height stay, because SUV and lean body mass
  are computed from them and a reader must be able to check that.
- Clean Descriptors (E.3.5): descriptions (study, series) stay, with every identifier found in them removed -
  also inside longer tokens (a StudyDescription ``IBSI_1_STS_001_PET`` loses the PatientID ``STS_001``).

The patient identity attributes are removed (or replaced by a pseudonym where DICOM requires a value) and
instance UIDs are replaced consistently, so a de-identified SEG still references the de-identified images it
was drawn on. UIDs become ``2.25.<decimal>`` (PS3.5 B.2: UUID-derived UIDs) from SHA-256(salt + UID); with a
random salt per bundle the mapping cannot be reversed or linked across bundles.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import UID

#: Attributes naming or locating the patient, the people and the site (PS3.15 Table E.1-1, the subset found
#: in image headers): removed from DICOM copies, and their values removed from every text.
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientBirthName", "OtherPatientIDs",
    "OtherPatientNames", "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers",
    "PatientMotherBirthName", "MedicalRecordLocator", "IssuerOfPatientID", "MilitaryRank", "BranchOfService",
    "Occupation", "RegionOfResidence", "CountryOfResidence", "EthnicGroup", "PatientReligiousPreference",
    "ResponsiblePerson", "ResponsibleOrganization", "AdmissionID", "AccessionNumber", "StudyID",
    "RequestedProcedureID", "ScheduledProcedureStepID", "PerformedProcedureStepID", "ReferringPhysicianName",
    "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName", "OperatorsName",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingPhysician", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber", "DetectorID",
    "GantryID", "AdmittingDiagnosesDescription", "AdditionalPatientHistory", "PatientComments", "ImageComments",
    "StudyComments", "RequestAttributesSequence", "ContentCreatorName",
)
#: Type 2 attributes (patient and general study modules) that derived objects copy: kept present, but empty.
_EMPTIED = ("PatientBirthDate", "ReferringPhysicianName", "AccessionNumber", "StudyID")
#: Free-text VRs whose values are searched for identifiers in a DICOM copy (PS3.5 Table 6.2-1).
_TEXT_VRS = ("LO", "SH", "ST", "LT", "UT", "UC", "PN")
#: PS3.15 Table CID 7050 codes for what was done (profile and options), written into the DICOM copies.
_METHOD_CODES = (codes.DCM.BasicApplicationConfidentialityProfile, codes.DCM.CleanDescriptorsOption,
                 codes.DCM.RetainLongitudinalTemporalInformationModifiedDatesOption,
                 codes.DCM.RetainPatientCharacteristicsOption)
REMOVED = "REMOVED"
MIN_IDENTIFIER_CHARS = 3
#: Dates move back by 1 to 10 years (whole days): far enough that the shifted date says nothing.
_SHIFT_DAYS = (365, 3653)


@dataclass(frozen=True)
class Deidentifier:
    """Replaces the given UIDs, identifier strings and dates wherever they occur (JSON, CSV, HTML, headers).

    ``dates`` are ``YYYYMMDD`` texts; ``paths`` are folder paths (input folders) removed from any text.
    """

    salt: str
    uids: frozenset[str]
    identifiers: frozenset[str]
    dates: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    @classmethod
    def from_datasets(cls, datasets: Iterable[pydicom.Dataset], salt: Optional[str] = None,
                      paths: Iterable[str] = ()) -> "Deidentifier":
        """Collect instance UIDs, identifier values and dates from ``datasets``; a random salt unless given."""
        uids: set[str] = set()
        identifiers: set[str] = set()
        dates: set[str] = set()

        def collect(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
            if element.VR == "SQ" or element.value in (None, ""):
                return
            values = [str(value) for value in (element.value if element.VM > 1 else [element.value])]
            if element.VR == "UI":
                uids.update(uid for uid in values if _is_instance_uid(uid))
            elif element.VR in ("DA", "DT"):
                dates.update(value[:8] for value in values if _date(value[:8]) is not None)
            if element.keyword in IDENTIFYING_KEYWORDS:
                identifiers.update(value for value in values if value.strip())
                if element.VR == "PN":  # "Doe^Jane" is also written "Doe Jane"
                    identifiers.update(" ".join(value.replace("^", " ").split()) for value in values)

        for dataset in datasets:
            dataset.walk(collect)
        return cls(salt=salt if salt is not None else secrets.token_hex(16), uids=frozenset(uids),
                   identifiers=frozenset(identifiers), dates=frozenset(dates),
                   paths=frozenset(path for path in paths if len(path.strip("/\\.:")) >= MIN_IDENTIFIER_CHARS))

    def uid(self, uid: str) -> str:
        """The salted-hash replacement of ``uid`` (a valid UID of at most 64 characters)."""
        digest = hashlib.sha256(f"{self.salt}:{uid}".encode("utf-8")).hexdigest()
        return "2.25." + str(int(digest[:30], 16))  # 120 bits: at most 42 characters

    @functools.cached_property
    def date_shift(self) -> dt.timedelta:
        """How far every date moves back: whole days, the same for the whole bundle, from the salt."""
        digest = hashlib.sha256(f"{self.salt}:date-shift".encode("utf-8")).hexdigest()
        low, high = _SHIFT_DAYS
        return dt.timedelta(days=low + int(digest[:12], 16) % (high - low))

    def date(self, value: str) -> str:
        """A DA (``YYYYMMDD``) or DT value with its date moved back by ``date_shift``; '' if not a date."""
        day = _date(value[:8])
        return "" if day is None else (day - self.date_shift).strftime("%Y%m%d") + value[8:]

    def text(self, text: str) -> str:
        """``text`` with every known UID replaced by its hash, every identifier and input folder by
        ``REMOVED`` and every header date (``YYYYMMDD`` or ``YYYY-MM-DD``) shifted."""
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
        """A de-identified copy: identifiers removed (name/ID pseudonymised), instance UIDs hashed, dates
        shifted, free text cleaned, and the profile and options recorded (PS3.15 E.1.1)."""
        result = copy.deepcopy(dataset)
        pseudonym = "ANON-" + self.uid(str(dataset.get("PatientID", "")))[-12:]  # same patient, same pseudonym

        def remove(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
            if element.keyword in IDENTIFYING_KEYWORDS:
                del dataset[element.tag]

        result.walk(remove)
        for keyword in _EMPTIED:
            setattr(result, keyword, "")
        result.PatientName = pseudonym + "^"  # PN: the pseudonym is the family name component
        result.PatientID = pseudonym
        result.walk(self._clean_element)
        if hasattr(result, "file_meta") and "MediaStorageSOPInstanceUID" in result.file_meta:
            meta_uid = str(result.file_meta.MediaStorageSOPInstanceUID)
            if meta_uid in self.uids:
                result.file_meta.MediaStorageSOPInstanceUID = self.uid(meta_uid)
        result.PatientIdentityRemoved = "YES"
        result.LongitudinalTemporalInformationModified = "MODIFIED"
        result.DeidentificationMethod = "PS3.15 basic profile; clean descriptors; modified dates"
        result.DeidentificationMethodCodeSequence = [_code_item(code) for code in _METHOD_CODES]
        return result

    def _clean_element(self, dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
        """Hash an instance UID, shift a date, clean a free text (one element of a dataset copy)."""
        if element.VR == "SQ" or element.value in (None, ""):
            return
        values = list(element.value) if element.VM > 1 else [element.value]
        if element.VR == "UI":
            values = [self.uid(str(v)) if str(v) in self.uids else v for v in values]
        elif element.VR in ("DA", "DT"):
            values = [self.date(str(v)) for v in values]
        elif element.VR in _TEXT_VRS:
            values = [self.text(str(v)) for v in values]
        else:
            return
        element.value = values if element.VM > 1 else values[0]

    @functools.cached_property
    def _pattern(self) -> Optional[re.Pattern[str]]:
        # UIDs must not match inside a longer UID ("1.2.3" in "1.2.34" or "1.2.3.4"), nor dates inside numbers.
        # Identifiers match inside longer tokens ("STS_001" in "IBSI_1_STS_001_PET"), ignoring case, but not
        # inside a longer word or number ("DRO" not in "hydro", "0000" not in "0.00001"), and only from
        # MIN_IDENTIFIER_CHARS on, so a StudyID "1" does not rewrite every number in the report.
        parts = [rf"{re.escape(path)}(?![\w.-])" for path in sorted(self.paths, key=len, reverse=True)]
        parts += [rf"(?<![0-9.]){re.escape(uid)}(?![0-9]|\.[0-9])" for uid in sorted(self.uids, key=len, reverse=True)]
        parts += [rf"(?i:{_identifier_pattern(value)})" for value in sorted(self.identifiers, key=len, reverse=True)
                  if len(value) >= MIN_IDENTIFIER_CHARS]
        parts += [rf"(?<![0-9.]){day}(?![0-9])|(?<![0-9]){day[:4]}-{day[4:6]}-{day[6:]}(?![0-9])"
                  for day in sorted(self.dates)]
        return re.compile("|".join(parts)) if parts else None

    @functools.cached_property
    def _identifiers_lower(self) -> frozenset[str]:
        return frozenset(value.lower() for value in self.identifiers)

    def _replacement(self, match: re.Match[str]) -> str:
        found = match.group(0)
        if found in self.uids:
            return self.uid(found)
        if found.lower() in self._identifiers_lower:  # a birth date is an identifier: removed, not shifted
            return REMOVED
        compact = found.replace("-", "")
        if compact in self.dates and len(found) in (8, 10):
            shifted = self.date(compact)
            return shifted if len(found) == 8 else f"{shifted[:4]}-{shifted[4:6]}-{shifted[6:]}"
        return REMOVED


def pseudonymous_path(sha256: str) -> str:
    """The name an input file goes by in a de-identified bundle (folder and file names often hold patient
    IDs): ``REMOVED/<first 16 hex digits of its SHA-256>``, the same in report.json and session.json."""
    return f"{REMOVED}/{sha256[:16]}"


def _identifier_pattern(value: str) -> str:
    """``value`` not touching a letter or digit on either side; a leading/trailing digit not continuing a
    decimal number either."""
    left = r"(?<![A-Za-z0-9])" + (r"(?<![0-9]\.)" if value[0].isdigit() else "")
    right = r"(?![A-Za-z0-9])" + (r"(?!\.[0-9])" if value[-1].isdigit() else "")
    return left + re.escape(value) + right


def _date(text: str) -> Optional[dt.date]:
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 and text.isdigit() else None
    except ValueError:
        return None


def _code_item(code: Any) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code.value, code.scheme_designator, code.meaning
    return item


def _is_instance_uid(uid: str) -> bool:
    """True for UIDs made for one study/series/instance/frame; False for registered (class, syntax) UIDs."""
    return UID(uid).name == uid
