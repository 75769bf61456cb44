"""Start one reader's server: the study opened, the page built, the token lock fitted, the URL printed.

Rendering is headless through Mesa EGL (``VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow``, design/architecture.md)
unless the environment chose another window class.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from StandardSegWeb.access import new_token, require_loopback_or_consent, token_middleware

DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServeOptions:
    """What ``standardseg serve`` was asked for (``study`` None: the generated demo study)."""

    study: Optional[Path]
    protocol_id: Optional[str]
    operator: Optional[str]
    registry: Optional[str]
    out_dir: Path
    host: str = DEFAULT_HOST
    port: int = 0
    allow_remote: bool = False


def serve(options: ServeOptions, announce: Callable[[str], None] = print) -> None:
    """Run the server until it is stopped (Ctrl-C, SIGTERM); ``announce`` gets the URL once it listens."""
    require_loopback_or_consent(options.host, options.allow_remote)
    os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    from trame.app import get_server

    from StandardSegWeb.app import REPORTS_ROUTE, PanelApp
    from StandardSegWeb.page import build_page
    from StandardSegWeb.panel import StudyInputs

    out_dir = options.out_dir.absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    study, protocol_id, operator, registry = _study(options, out_dir)
    server = get_server(f"standardseg-{os.getpid()}", client_type="vue3")
    token = new_token()
    app = PanelApp(server, StudyInputs.from_folder(study), protocol_id, operator, registry, out_dir)
    build_page(app)

    def bind(wslink_server) -> None:
        wslink_server.app.middlewares.append(token_middleware(token, lambda: server.port))
        wslink_server.app.router.add_static(REPORTS_ROUTE, str(out_dir))

    def ready(**_state) -> None:
        host = f"[{options.host}]" if ":" in options.host else options.host
        announce(f"http://{host}:{server.port}/index.html?token={token}")

    server.controller.on_server_bind.add(bind)
    server.controller.on_server_ready.add(ready)
    server.start(host=options.host, port=options.port, open_browser=False, show_connection_info=False,
                 disable_logging=True, timeout=0)


def _study(options: ServeOptions, out_dir: Path) -> tuple[Path, str, str, Optional[str]]:
    """The study, protocol, operator and registry to open; without a study, the demo's (generated once)."""
    from StandardSegLib.errors import InputError

    if options.study is not None:
        if not options.protocol_id or not options.operator:
            raise InputError("serve: a study needs --protocol and --operator (e.g. --protocol fdg-pet-ct-oncology "
                             "--operator 'Dr Reader')")
        return options.study, options.protocol_id, options.operator, options.registry
    from StandardSegLib.demo import DEMO_OPERATOR, DEMO_PROTOCOL_ID, DEMO_REGISTRY_NAME, write_demo_registry
    from StandardSegLib.phantom import generate_study, write_study

    root = out_dir / "demo-study"
    if not (root / DEMO_REGISTRY_NAME).is_file():
        files = write_study(generate_study(), root)
        write_demo_registry(files.root)
    return root, options.protocol_id or DEMO_PROTOCOL_ID, options.operator or DEMO_OPERATOR, \
        options.registry or str(root / DEMO_REGISTRY_NAME)
