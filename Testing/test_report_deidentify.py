"""De-identifier: UIDs replaced by salted hashes (whole UIDs only), identifiers removed, datasets copied."""

from __future__ import annotations

import hashlib

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from StandardSegLib.report.deidentify import REMOVED, Deidentifier

STUDY, SERIES = "1.2.3.4", "1.2.3.4.5"


def _dataset() -> Dataset:
    dataset = Dataset()
    dataset.PatientName = "Doe^Jane"
    dataset.PatientID = "PID-42"
    dataset.PatientBirthDate = "19700102"
    dataset.StudyID = "1"  # too short to scrub safely: the dataset copy drops it, text keeps "1"
    dataset.StudyInstanceUID = STUDY
    dataset.SeriesInstanceUID = SERIES
    dataset.SOPClassUID = "1.2.840.10008.5.1.4.1.1.128"  # PET Image Storage: a registered UID, kept
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4.5.6"
    dataset.ReferencedImageSequence = [item]
    return dataset


def test_uids_and_identifiers_are_replaced_in_text_and_documents():
    original = _dataset()
    deidentifier = Deidentifier.from_datasets([original], salt="s")
    assert deidentifier.uids == {STUDY, SERIES, "1.2.3.4.5.6"}
    expected = "2.25." + str(int(hashlib.sha256(b"s:1.2.3.4").hexdigest()[:30], 16))
    assert deidentifier.uid(STUDY) == expected and UID(expected).is_valid and len(expected) <= 64
    text = f"study {STUDY}, series {SERIES}; not a match: 1.2.3.45 and 1.2.3.4.7; patient Doe^Jane PID-42 19700102"
    scrubbed = deidentifier.text(text)
    assert scrubbed == (f"study {expected}, series {deidentifier.uid(SERIES)}; not a match: 1.2.3.45 and 1.2.3.4.7; "
                        f"patient {REMOVED} {REMOVED} {REMOVED}")
    document = deidentifier.document({"uid": STUDY, "nested": [{"name": "Doe^Jane", "n": 1}], STUDY: True})
    assert document == {"uid": expected, "nested": [{"name": REMOVED, "n": 1}], expected: True}
    assert deidentifier.text("version 1.0.1, count 1") == "version 1.0.1, count 1"


def test_salt_is_random_unless_given():
    first, second = (Deidentifier.from_datasets([_dataset()]) for _ in range(2))
    assert first.salt != second.salt and first.uid(STUDY) != second.uid(STUDY)
    same_salt = [Deidentifier.from_datasets([_dataset()], "x") for _ in range(2)]
    assert same_salt[0].uid(STUDY) == same_salt[1].uid(STUDY)


def test_dataset_copy_is_deidentified_and_the_original_untouched():
    original = _dataset()
    deidentifier = Deidentifier.from_datasets([original], salt="s")
    copy = deidentifier.dataset(original)
    assert str(copy.PatientName).startswith("ANON-") and copy.PatientID.startswith("ANON-")
    assert copy.PatientBirthDate == "" and copy.StudyID == ""
    assert copy.StudyInstanceUID == deidentifier.uid(STUDY)
    assert copy.ReferencedImageSequence[0].ReferencedSOPInstanceUID == deidentifier.uid("1.2.3.4.5.6")
    assert copy.SOPClassUID == original.SOPClassUID
    assert (str(original.PatientName), original.StudyInstanceUID) == ("Doe^Jane", STUDY)
    assert isinstance(copy, pydicom.Dataset)
