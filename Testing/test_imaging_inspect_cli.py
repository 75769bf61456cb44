"""``standardseg inspect`` end to end on synthetic series: JSON keys, SUV section, identifiers, errors."""

from __future__ import annotations

import json

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicom_factory import write_series
from StandardSegLib.cli import main
from StandardSegLib.imaging import ImageRecord


def _pet_header(weight_kg=70.0):
    item = Dataset()
    item.Radiopharmaceutical = "FDG"
    item.RadionuclideTotalDose = "370000000"
    item.RadionuclideHalfLife = "6586.2"
    item.RadiopharmaceuticalStartDateTime = "20240301100000"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    item.RadionuclideCodeSequence = Sequence([code])
    return {
        "Units": "BQML", "DecayCorrection": "START", "CorrectedImage": ["ATTN", "DECY"],
        "SeriesDate": "20240301", "SeriesTime": "110000", "AcquisitionDate": "20240301",
        "AcquisitionTime": "110000", "PatientWeight": weight_kg, "PatientSex": "M",
        "RadiopharmaceuticalInformationSequence": Sequence([item]), "ReconstructionMethod": "OSEM3D 3i24s",
    }


def _run(capsys, *argv):
    code = main(["inspect", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_pet_json_has_record_keys_and_suv_factor(tmp_path, capsys):
    series = write_series(tmp_path / "pt", modality="PT", shape=(3, 3, 4), slope=[0.5, 1, 2, 4],
                          header=_pet_header())
    code, out, _ = _run(capsys, series.directory, "--json")
    assert code == 0
    result = json.loads(out)
    assert list(result) == list(ImageRecord().to_dict()) + ["suv"]
    assert result["modality"] == "PT" and result["reconstruction_iterations"] == 3
    assert "identifiers" not in result and "SYNTH-001" not in out
    suv = result["suv"]
    assert suv["available"] is True
    # SUVbw factor = weight_g / (dose · 2^(-Δt/T½)), Δt = 1 h from injection to series start (QIBA)
    expected = 70000.0 / (370e6 * 2 ** (-3600.0 / 6586.2))
    assert all(factor == pytest.approx(expected, rel=1e-9) for factor in suv["factors"])


def test_pet_without_weight_reports_why_suv_is_unavailable(tmp_path, capsys):
    header = _pet_header()
    header["PatientWeight"] = None
    series = write_series(tmp_path / "pt", modality="PT", shape=(3, 3, 2), header=header)
    code, out, _ = _run(capsys, series.directory, "--json")
    assert code == 0
    suv = json.loads(out)["suv"]
    assert suv["available"] is False and "PatientWeight" in suv["reason"]
    code, out, _ = _run(capsys, series.directory)
    assert code == 0 and "[SUV]" in out and "PatientWeight" in out


def test_ct_text_output_is_grouped_and_hides_identifiers(tmp_path, capsys):
    series = write_series(tmp_path / "ct", header={"KVP": 120, "ConvolutionKernel": "B30f"})
    code, out, _ = _run(capsys, series.directory)
    assert code == 0
    assert "[geometry]" in out and "[CT]" in out and "[MR]" not in out and "[PET]" not in out
    assert "B30f" in out and "SYNTH-001" not in out and "Synthetic" not in out
    code, out, _ = _run(capsys, series.directory, "--show-identifiers", "--json")
    assert json.loads(out)["identifiers"]["PatientID"] == "SYNTH-001"
    assert json.loads(out)["suv"] is None


def test_several_series_is_one_line_error_with_exit_2(tmp_path, capsys):
    write_series(tmp_path / "d" / "a")
    write_series(tmp_path / "d" / "b", modality="MR")
    code, out, err = _run(capsys, tmp_path / "d")
    assert code == 2 and out == ""
    message = [line for line in err.splitlines() if line.startswith("standardseg: error:")]
    assert len(message) == 1 and "--series" in message[0] and "Traceback" not in err


def test_inspect_never_decodes_pixels(tmp_path, capsys, monkeypatch):
    series = write_series(tmp_path / "pt", modality="PT", shape=(3, 3, 2), header=_pet_header())
    monkeypatch.setattr(pydicom.Dataset, "pixel_array", property(lambda self: pytest.fail("pixels decoded")))
    code, out, _ = _run(capsys, series.directory, "--json")
    assert code == 0 and json.loads(out)["number_of_slices"] == 2
