"""``standardseg serve [STUDY] [--protocol ID] [--operator NAME] [--port N] [--host 127.0.0.1]``: one reader's
guided panel in a browser (trame-slicer; the ``web`` extra).

Listens on the loopback address by default and prints a URL carrying a random access token; requests without
it are refused (403). Without STUDY it opens the generated demo PET/CT study. The web package is imported only
here, so the rest of the CLI works without the extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from StandardSegLib.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve one reader's guided panel in a browser (loopback, token in the URL)",
        description="Open a study in the seven-step guided panel (study, image check, display, reference tissue, "
        "segment, validate, report) served to a browser by trame-slicer. One server serves one reader: every tab "
        "of a server shares its scene. The URL printed carries a random access token; requests without it are "
        "refused. Without STUDY, the generated demo PET/CT study is opened.")
    parser.add_argument("study", nargs="?", metavar="STUDY", default=None,
                        help="an image (DICOM folder or file, NRRD/NIfTI) or a study folder with PT|PET and CT "
                        "series folders (PET measured, CT shown beneath)")
    parser.add_argument("--protocol", metavar="ID", default=None, help="protocol id (required with STUDY)")
    parser.add_argument("--operator", metavar="NAME", default=None, help="the reader (required with STUDY)")
    parser.add_argument("--registry", metavar="FILE", default=None, help="operator registry (default: the user's)")
    parser.add_argument("--out", metavar="DIR", default="standardseg-serve",
                        help="where reports (and the demo study) are written (default: ./standardseg-serve)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, metavar="N", help="port (default: a free one)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host: anyone reaching the address with the URL sees patient "
                        "images; use only behind an authenticating reverse proxy over TLS")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from StandardSegWeb.server import ServeOptions, serve
    except ImportError as error:
        raise InputError(f"serve: the browser panel is not installed ({error.name} missing): "
                         "pip install 'standardseg[web]'") from None
    from StandardSegWeb.access import is_loopback

    if not is_loopback(args.host) and args.allow_remote:
        print(f"standardseg: warning: serving on {args.host}, not loopback: anyone who reaches it with the URL sees "
              "patient images; put an authenticating reverse proxy with TLS in front", file=sys.stderr)

    def announce(url: str) -> None:
        print(url, flush=True)

    serve(ServeOptions(study=Path(args.study) if args.study else None, protocol_id=args.protocol,
                       operator=args.operator, registry=args.registry, out_dir=Path(args.out), host=args.host,
                       port=args.port, allow_remote=args.allow_remote), announce)
    return 0
