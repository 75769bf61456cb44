"""Standardised SUV (body weight, lean body mass, body surface area, ideal body weight) from PET DICOM.

``suv_conversion(datasets, suv_type)`` reads the headers of a PET series and returns per-slice factors
plus the rule applied; ``apply_suv(image, conversion)`` multiplies a rescaled image by them. Rules: the
SUV manual of Vácha et al. (OncoRay/IBSI) and QIBA; see the submodules.
"""

from StandardSegLib.suv.conversion import (LBM_FORMULAS, SUV_TYPES, SUVConversion, apply_suv,
                                           suv_conversion)

__all__ = ["LBM_FORMULAS", "SUV_TYPES", "SUVConversion", "apply_suv", "suv_conversion"]
