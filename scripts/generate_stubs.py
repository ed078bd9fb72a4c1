"""Regenerate the checked-in gRPC stubs from protos/vividvr/v1/*.proto.

Run `.venv/bin/python scripts/generate_stubs.py` from a checkout after editing a .proto; a test regenerates
into a temporary folder and fails if the checked-in files differ. The protos are mapped onto the
`vividvr_client/v1` import path so the generated modules import each other as
`vividvr_client.v1.*` without any post-processing.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROTO_DIR = REPO / "protos" / "vividvr" / "v1"
STUB_DIR = REPO / "vividvr_client" / "v1"
IMPORT_PREFIX = "vividvr_client/v1"


def generate(out_dir: Path) -> list[Path]:
    """Write *_pb2.py, *_pb2.pyi and *_pb2_grpc.py for every proto into `out_dir`; return them."""
    from grpc_tools import protoc

    protos = sorted(PROTO_DIR.glob("*.proto"))
    with tempfile.TemporaryDirectory() as scratch:
        args = [
            "protoc",
            f"-I{IMPORT_PREFIX}={PROTO_DIR}",
            f"--python_out={scratch}",
            f"--pyi_out={scratch}",
            f"--grpc_python_out={scratch}",
            *(f"{IMPORT_PREFIX}/{p.name}" for p in protos),
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {', '.join(p.name for p in protos)}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for produced in sorted((Path(scratch) / IMPORT_PREFIX).iterdir()):
            target = out_dir / produced.name
            shutil.copyfile(produced, target)
            written.append(target)
    return written


def main() -> int:
    for path in generate(STUB_DIR):
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
