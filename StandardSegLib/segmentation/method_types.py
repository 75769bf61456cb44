"""What every segmentation method receives and returns, and how it is registered.

A method is one small function ``run(MethodInput, parameters) -> MethodOutput`` plus a frozen parameter
dataclass, registered as a :class:`Method` in its module's ``METHODS`` tuple (see
:mod:`StandardSegLib.segmentation.registry`). The engine handles the VOI, seeds, post-processing and
provenance, so a method only computes a raw mask and the thresholds it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

import SimpleITK as sitk

if TYPE_CHECKING:
    from StandardSegLib.segmentation.voi import VOI

Index = tuple[int, int, int]


@dataclass(frozen=True)
class MethodInput:
    """The VOI crop in working units (HU, SUVbw...) and the seeds as indices of the crop.

    ``background`` is the reference-tissue measurement (an object with ``mean``, ``sd``, ``units``,
    ``name``; e.g. the gate's liver ROI), needed by the background-relative PET methods.
    ``protocol_parameters`` are the protocol's defaults of every method (for pet-vote's members).
    ``seed_labels`` is the merged seed label crop of a method with its own seed image (grow-from-seeds).
    ``region`` (uint8 on the crop) holds the voxels a method may take statistics (max, peak) from: the
    seed's hot region, then the segment itself (``hot_region``, ``engine``); None: the whole crop.
    ``max_voxels`` is the protocol's maximum lesion volume in voxels of the crop's grid (None: no maximum): a
    region-growing method may stop as soon as its region is larger (a leak; ``region_growing``).
    """

    image: sitk.Image
    units: str
    seeds: tuple[Index, ...]
    background_seeds: tuple[Index, ...] = ()
    background: Any = None
    protocol_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seed_labels: Optional[sitk.Image] = None
    region: Optional[sitk.Image] = None
    max_voxels: Optional[int] = None


@dataclass(frozen=True)
class SeedImage:
    """A method's own seed label crop, the fixed VOI it works in (its extent rule) and what to record."""

    voi: "VOI"
    labels: sitk.Image
    details: Mapping[str, Any]


@dataclass(frozen=True)
class MethodOutput:
    """A raw uint8 mask on the crop, the thresholds used (image units) and method-specific values.

    ``stopped_at_cap``: the method stopped because its region outgrew ``MethodInput.max_voxels`` (a leak).
    """

    mask: sitk.Image
    thresholds: Mapping[str, float] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    stopped_at_cap: bool = False


@dataclass(frozen=True)
class Method:
    """A registered method. ``source`` cites where its formula and defaults come from.

    ``seed_image(image, seed indices, background indices, seeds mask, box VOI or None, parameters)`` builds
    the seed labels and a fixed VOI (the engine then neither adds a margin nor grows the VOI);
    ``default_options`` are the method's defaults of the common options (protocol and user values win).
    ``needs_suv``: thresholds in SUV (refused on PET that cannot be converted); scale-free PET methods
    (percent of max, A50, A50P) run in any activity units.
    """

    id: str
    title: str
    parameters: type
    run: Callable[[MethodInput, Any], MethodOutput]
    source: str
    needs_suv: bool = False
    needs_background: bool = False
    seedless: bool = False  # may run inside a user box without seeds (a pure threshold)
    uptake: bool = False  # a PET method: the seed's hot region is measured (``hot_region``)
    region_statistics: bool = False  # its threshold comes from max/peak of ``MethodInput.region``
    seed_image: Optional[Callable[..., SeedImage]] = None
    default_options: Mapping[str, Any] = field(default_factory=dict)


def binary(image: sitk.Image) -> sitk.Image:
    """uint8 0/1 version of a mask image."""
    return sitk.Cast(image > 0, sitk.sitkUInt8)


def background_value(method_id: str, background: Optional[Any], units: str) -> Any:
    """The reference-tissue measurement, checked to exist and to be in the image's units."""
    from StandardSegLib.errors import InputError

    if background is None:
        raise InputError(f"method {method_id} needs a background/reference-tissue ROI (e.g. "
                         "--background-sphere for the liver) and none was given")
    if getattr(background, "units", units) != units:
        raise InputError(f"method {method_id}: the background ROI was measured in {background.units}, the image is "
                         f"in {units}")
    return background
