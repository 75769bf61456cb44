"""All segmentation methods by id (the ids of the protocol schema's ``method_id``, except ``manual``,
which the engine handles as an empty start for scripted edits)."""

from __future__ import annotations

from StandardSegLib.segmentation import grow_from_seeds, pet_thresholds, region_growing, thresholds
from StandardSegLib.segmentation.method_types import Method

METHODS: dict[str, Method] = {method.id: method for module in (thresholds, pet_thresholds, region_growing,
                                                               grow_from_seeds) for method in module.METHODS}
MANUAL_METHOD = "manual"
