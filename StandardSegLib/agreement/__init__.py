"""Reader agreement: N readers' segmentations of the same lesions against each other, their STAPLE
consensus and an optional reference (consensus: semi-automatic tools and readers are validated against
human reference segmentations; a protocol may require agreement before an operator counts as trained).
"""

from StandardSegLib.agreement.agreement_bundle import write_agreement_bundle
from StandardSegLib.agreement.inputs import parse_mask_spec
from StandardSegLib.agreement.study import agreement_study

__all__ = ["agreement_study", "parse_mask_spec", "write_agreement_bundle"]
