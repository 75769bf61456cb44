"""``standardseg nyul-landmarks IMAGE... -o FILE``: learn Nyúl–Udupa landmarks from training MR images.

Each training image (a DICOM series or an image file, read as ``standardseg features`` reads it; ``--list``
takes the paths from a text file, one per line) contributes its percentile landmarks within its body (the same
Li-threshold body mask the protocol step uses when applying them), and the averaged standard scale is written as
``standardseg.nyul-landmarks/1`` JSON (``StandardSegLib.normalisation.nyul``). The printed SHA-256 pins the
file: a protocol selects it with ``radiomics.normalisation: {method: nyul, landmarks: FILE}``. Quantitative maps
are refused. An existing FILE is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from StandardSegLib.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "nyul-landmarks", help="learn Nyul-Udupa histogram landmarks from training MR images (versioned JSON)",
        description="Learn the Nyul-Udupa standard scale from training images and write it as a versioned JSON "
        "landmarks file for a protocol's radiomics.normalisation.")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="training images (DICOM series or image files)")
    parser.add_argument("--list", metavar="FILE", help="text file with one training image path per line")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="landmarks JSON to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from StandardSegLib.cli.features_cmd import read_image
    from StandardSegLib.files import atomic_write
    from StandardSegLib.normalisation.methods import body_mask, refuse_quantitative_map
    from StandardSegLib.normalisation.nyul import train_landmarks

    paths = [Path(path) for path in args.images]
    if args.list:
        try:
            lines = Path(args.list).read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise InputError(f"{args.list}: cannot read the training list ({error.strerror})") from None
        paths += [Path(args.list).parent / line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not paths:
        raise InputError("nyul-landmarks: expected training images (IMAGE... or --list FILE)")
    target = Path(args.output)
    if target.exists() and not args.overwrite:
        raise InputError(f"{target} exists; use --overwrite to replace it")
    images = []
    for number, path in enumerate(paths, start=1):
        image, _, _, headers = read_image(path, None)
        refuse_quantitative_map(headers, f"training image {number}")
        images.append(image)
    landmarks = train_landmarks(images, [body_mask(image) for image in images])
    digests: list[str] = []
    atomic_write(target, ".json", lambda temporary: digests.append(landmarks.save(temporary)))
    digest = digests[0]
    print(f"Nyul landmarks from {len(images)} training image(s): {target} (sha256 {digest})")
    return 0
