#!/usr/bin/env python3
"""Puts Swagger UI's static files into a folder: `swagger-ui.py DEST [CACHE]`.

The files come from the swagger-ui-py wheel on PyPI (downloaded with pip, never installed;
SIOMS reaches no CDN), kept in CACHE (default: a temporary folder) so it is fetched once. The
page itself is gateway/docs/index.html, copied beside them. Used by `scripts/stack.sh` for the
native gateway and by the gateway image's build, so both serve the same Swagger UI.
"""

import glob
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "swagger-ui-py==25.7.1"
FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
)


def main() -> None:
    dest = pathlib.Path(sys.argv[1])
    cache = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp())
    dest.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(pathlib.Path(__file__).with_name("docs") / "index.html", dest / "index.html")
    wheels = sorted(glob.glob(str(cache / "swagger_ui_py-*.whl")))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache), WHEEL],
            check=True,
        )
        wheels = sorted(glob.glob(str(cache / "swagger_ui_py-*.whl")))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in FILES:
            (dest / name).write_bytes(wheel.read(f"swagger_ui/static/{name}"))


if __name__ == "__main__":
    main()
