"""Build hook: ship the test hierarchy (``zones/``) inside the package.

Everything else about the build is declared in pyproject.toml. The top-level
``zones/`` folder stays where it is in the repository; when setuptools builds the
package (a wheel, ``pip install .``), this copies the files the program reads from it
(the manifest, the zone sources, the DKIM keys, the test PKI) into
``resolver/testnet/zones/`` of the build, so ``demo`` and ``testnet`` work from an
installed package. An editable install reads the checkout's ``zones/`` instead (see
``resolver.testnet.hierarchy.default_zones_dir``). The sdist carries ``zones/``
through MANIFEST.in.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ZONES = HERE / "zones"
# what the test hierarchy consists of, relative to zones/
ZONE_FILES = ("README.md", "manifest.tsv", "*.zone", "keys/*.pem", "certs/README.md",
              "certs/*.pem")
TARGET = Path("resolver", "testnet", "zones")


class BuildPyWithZones(build_py):
    """build_py that also copies the test hierarchy into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return      # an editable install reads the checkout's zones/
        if not (ZONES / "manifest.tsv").is_file():
            raise FileNotFoundError(f"{ZONES}/manifest.tsv: the test hierarchy is missing "
                                    "from the source tree (MANIFEST.in must graft zones)")
        target = Path(self.build_lib) / TARGET
        for pattern in ZONE_FILES:
            for source in sorted(ZONES.glob(pattern)):
                dest = target / source.relative_to(ZONES)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildPyWithZones})
