"""De-identifier: UIDs replaced by salted hashes (whole UIDs only), identifiers removed (also inside longer
tokens), dates shifted by one offset (intervals kept), input folders removed, datasets copied."""

from __future__ import annotations

import datetime as dt
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


def test_identifiers_are_found_inside_longer_tokens_not_inside_words_or_numbers():
    dataset = _dataset()
    dataset.PatientID, dataset.AccessionNumber, dataset.StationName = "STS_001", "0000", "DRO"
    deidentifier = Deidentifier.from_datasets([dataset], salt="s")
    assert deidentifier.text("IBSI_1_STS_001_PET_image, sts_001.dcm") == f"IBSI_1_{REMOVED}_PET_image, {REMOVED}.dcm"
    assert deidentifier.text("Doe Jane; DRO_0_0; hydro; 0.0000; 10000; 0000-01") == (
        f"{REMOVED}; {REMOVED}_0_0; hydro; 0.0000; 10000; {REMOVED}-01")


def test_dates_move_back_together_and_times_stay():
    dataset = _dataset()
    dataset.StudyDate, dataset.StudyTime = "20000907", "111711"
    dataset.AcquisitionDateTime = "20000908013000.5+0100"
    item = Dataset()
    item.RadiopharmaceuticalStartDateTime = "20000907233000"
    dataset.RadiopharmaceuticalInformationSequence = [item]
    deidentifier = Deidentifier.from_datasets([dataset], salt="s")
    shift = deidentifier.date_shift
    assert shift.days >= 365 and shift.seconds == 0
    assert Deidentifier.from_datasets([dataset], salt="s").date_shift == shift  # reproducible with the salt
    assert Deidentifier.from_datasets([dataset], salt="t").date_shift != shift
    copy = deidentifier.dataset(dataset)
    scan = dt.datetime.strptime(copy.AcquisitionDateTime[:14], "%Y%m%d%H%M%S")
    injection = dt.datetime.strptime(copy.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime,
                                     "%Y%m%d%H%M%S")
    assert scan - injection == dt.timedelta(hours=2)  # the uptake interval, across midnight, is kept
    assert copy.StudyDate == (dt.date(2000, 9, 7) - shift).strftime("%Y%m%d") and copy.StudyTime == "111711"
    assert copy.AcquisitionDateTime.endswith("013000.5+0100") and copy.PatientBirthDate == ""
    study = dt.date(2000, 9, 7) - shift
    assert deidentifier.text("study 2000-09-07T11:17:11, 20000907; born 19700102; 1.20000907") == (
        f"study {study.isoformat()}T11:17:11, {study:%Y%m%d}; born {REMOVED}; 1.20000907")


def test_dataset_copy_cleans_descriptions_and_records_the_method():
    dataset = _dataset()
    dataset.StudyDescription, dataset.InstitutionName = "PID-42 follow-up", "General Hospital"
    copy = Deidentifier.from_datasets([dataset], salt="s").dataset(dataset)
    assert copy.StudyDescription == f"{REMOVED} follow-up" and "InstitutionName" not in copy
    assert copy.PatientIdentityRemoved == "YES" and copy.LongitudinalTemporalInformationModified == "MODIFIED"
    assert {item.CodeValue for item in copy.DeidentificationMethodCodeSequence} == {
        "113100", "113105", "113107", "113108"}  # PS3.16 CID 7050: profile and the three options used


def test_input_folders_are_removed_from_text():
    deidentifier = Deidentifier.from_datasets([_dataset()], salt="s", paths=["/data/Smith_John", "/", "."])
    assert deidentifier.text("cannot read /data/Smith_John/PT/1.dcm; a/b") == f"cannot read {REMOVED}/PT/1.dcm; a/b"
