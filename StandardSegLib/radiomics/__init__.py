"""Radiomics with pyradiomics: extraction with recorded settings, IBSI names and pyradiomics' IBSI deviations.

Public API:

- :func:`extract_features` (``image, mask, parameters, label=, source=``) -> :class:`RadiomicsResult`;
  :func:`build_extractor` / :func:`run_extractor` to reuse one extractor for many masks;
- :func:`read_parameter_file` (a standard pyradiomics YAML/JSON file, unchanged) and
  :func:`protocol_parameters` (a protocol's ``radiomics.parameters`` with a source string);
- :func:`ibsi_feature` / :data:`PYRADIOMICS_TO_IBSI`: pyradiomics name -> IBSI family, name and code;
- :data:`KNOWN_DEVIATIONS` / :func:`applicable_deviations`: where pyradiomics differs from IBSI, and why.

pyradiomics is imported lazily (on first extraction), so importing this package stays cheap.
"""

from StandardSegLib.radiomics.deviations import KNOWN_DEVIATIONS, KnownDeviation, applicable_deviations
from StandardSegLib.radiomics.extraction import (RadiomicsResult, build_extractor, extract_features,
                                                 protocol_parameters, read_parameter_file, run_extractor)
from StandardSegLib.radiomics.ibsi_mapping import PYRADIOMICS_TO_IBSI, IBSIFeature, ibsi_feature

__all__ = [
    "IBSIFeature", "KNOWN_DEVIATIONS", "KnownDeviation", "PYRADIOMICS_TO_IBSI", "RadiomicsResult",
    "applicable_deviations", "build_extractor", "extract_features", "ibsi_feature", "protocol_parameters",
    "read_parameter_file", "run_extractor",
]
