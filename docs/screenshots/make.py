"""Take the README's screenshots of the HTML report, light and dark, with headless Chromium.

Usage (from the repository root, with iodiag importable and Debian's ``chromium``)::

    python docs/screenshots/make.py [--width 1280] [--height 1700]

For each of three fixtures it writes the HTML report into a temporary folder and runs
``chromium --headless --screenshot`` on it twice: once as it is (light) and once with
``--force-dark-mode`` (the page's ``prefers-color-scheme: dark``). The PNGs land beside this
script as ``NAME-light.png`` and ``NAME-dark.png``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
FIXTURES = {  # relative to ROOT, as a user in the repository would name them
    "pool8": "fixtures/strace/logs/pool8.f_tt_T.log",
    "asyncio_server": "fixtures/diagnosis/logs/asyncio_server.f_tt_T.log",
    "lock_convoy": "fixtures/diagnosis/logs/lock_convoy.f_tt_T.log",
}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1700)
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium: apt-get install chromium")
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    from analyzer import analyze
    from analyzer.render import HtmlRenderer

    with tempfile.TemporaryDirectory(prefix="iodiag-shots-") as tmp:
        for name, trace in FIXTURES.items():
            page = Path(tmp) / f"{name}.html"
            page.write_text(HtmlRenderer().render_to_string(analyze(trace)))
            for scheme, extra in (("light", []), ("dark", ["--force-dark-mode"])):
                out = HERE / f"{name}-{scheme}.png"
                profile = Path(tmp) / f"profile-{name}-{scheme}"
                subprocess.run(
                    [
                        chromium,
                        *FLAGS,
                        *extra,
                        f"--user-data-dir={profile}",
                        f"--window-size={args.width},{args.height}",
                        f"--screenshot={out}",
                        page.as_uri(),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=120,
                )
                print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
