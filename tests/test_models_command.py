"""`vividvr models download|verify` against a hub on 127.0.0.1 that serves the tiny reference tree.

The local hub (tests/hub_server.py) answers the endpoints huggingface_hub calls, with the headers the
real hub sends, so the real client code runs: listing, allow-patterns, ranges, resume.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hub_server import TinyHub
from huggingface_hub import constants, file_download

from vividvr_cli.models_command import ModelsError, download_hub, download_release, verify
from vividvr_engine.published import COGVIDEOX, VIVIDVR, ReleaseFile

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "checkpoints"
pytestmark = pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference/checkpoints")
EXTRA = "transformer/diffusion_pytorch_model.bin"  # on the hub, but not a file the engine loads


def repository(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def resumed_from(range_header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
    return int(match.group(1)) if match else 0


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch):
    # huggingface_hub keeps what it received in 10 MB chunks; tiny files need tiny chunks to show resuming
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 8192)
    cogvideox = repository(REFERENCE / COGVIDEOX.folder)
    cogvideox[EXTRA] = b"x" * 2000
    served = TinyHub({COGVIDEOX.repo: cogvideox, VIVIDVR.repo: repository(REFERENCE / VIVIDVR.folder)},
                     older={COGVIDEOX.revision: {COGVIDEOX.repo: cogvideox}})  # the commit published.py pins
    server, url = served.start()
    served.url = url
    yield served
    server.shutdown()


def test_download_fetches_exactly_the_files_the_engine_loads_and_verify_accepts_them(hub, tmp_path: Path) -> None:
    for source in (COGVIDEOX, VIVIDVR):
        download_hub(source, tmp_path, endpoint=hub.url)

    for repo, folder in ((COGVIDEOX.repo, COGVIDEOX.folder), (VIVIDVR.repo, VIVIDVR.folder)):
        for path, data in hub.repos[repo].items():
            if path != EXTRA:
                assert (tmp_path / folder / path).read_bytes() == data, path
    assert not (tmp_path / COGVIDEOX.folder / EXTRA).exists()
    findings, how = verify(["vividvr"], tmp_path, endpoint=hub.url)
    assert findings == []
    assert how == [f"vividvr: checked against the hub's sizes and SHA-256 of {COGVIDEOX.repo}@{COGVIDEOX.revision}"
                   f" (pinned by VividVR), {VIVIDVR.repo}@{hub.commit} (locked in {tmp_path / 'revisions.json'};"
                   " delete that line to follow 'main')"]
    assert json.loads((tmp_path / "revisions.json").read_text()) == {COGVIDEOX.repo: COGVIDEOX.revision,
                                                                     VIVIDVR.repo: hub.commit}


def test_a_dropped_connection_resumes_from_the_bytes_already_received(hub, tmp_path: Path) -> None:
    hub.drop_after["connectors.pt"] = 100_000

    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    gets = [r for r in hub.requests if r[0] == "GET" and r[1].endswith("/connectors.pt")]
    assert len(gets) == 2 and gets[0][2] is None
    assert 0 < resumed_from(gets[1][2]) <= 100_000  # from what had arrived, not from the start
    assert (tmp_path / "Vivid-VR/connectors.pt").read_bytes() == hub.repos[VIVIDVR.repo]["connectors.pt"]


def fetched(hub: TinyHub) -> dict[str, str | None]:
    """{path: Range header} of every file GET the hub answered (the last one per path)."""
    return {r[1].split("/resolve/", 1)[1].split("/", 1)[1]: r[2] for r in hub.requests
            if r[0] == "GET" and "/resolve/" in r[1]}


def interrupted(hub: TinyHub, root: Path, path: str, after: int) -> None:
    """A run whose connection drops `after` bytes into `path` and whose in-run retry gets 503."""
    hub.drop_after[path] = after
    hub.fail_after_drop = True
    with pytest.raises(ModelsError, match=r"failed on csbhr/Vivid-VR: HfHubHTTPError: .*503.*what arrived is kept"
                                          r" under .*: run the same command again and it continues from there"):
        download_hub(VIVIDVR, root, endpoint=hub.url)
    hub.requests.clear()


def test_the_next_run_resumes_an_interrupted_file_from_the_bytes_received_and_refetches_nothing_finished(
        hub, tmp_path: Path) -> None:
    interrupted(hub, tmp_path, "control_feat_proj.pt", after=300_000)
    folder = tmp_path / VIVIDVR.folder
    finished = {p for p in hub.repos[VIVIDVR.repo] if (folder / p).is_file()}
    assert "connectors.pt" in finished and "control_feat_proj.pt" not in finished

    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    ranges = fetched(hub)
    assert 0 < resumed_from(ranges["control_feat_proj.pt"]) <= 300_000  # where the first run stopped
    assert not set(ranges) & finished
    for path, data in hub.repos[VIVIDVR.repo].items():
        assert (folder / path).read_bytes() == data, path
    assert not (folder / ".vividvr-partial").exists()


def test_a_server_that_ignores_the_range_still_gives_the_published_file_in_one_run(hub, tmp_path: Path) -> None:
    interrupted(hub, tmp_path, "control_feat_proj.pt", after=300_000)
    hub.ignore_ranges = True  # a proxy or mirror that answers every request whole

    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    assert resumed_from(fetched(hub)["control_feat_proj.pt"]) > 0  # asked for the rest, got the whole file
    data = hub.repos[VIVIDVR.repo]["control_feat_proj.pt"]
    assert (tmp_path / VIVIDVR.folder / "control_feat_proj.pt").read_bytes() == data


def test_a_corrupted_partial_file_is_deleted_with_a_message_and_fetched_anew(hub, tmp_path: Path) -> None:
    interrupted(hub, tmp_path, "control_feat_proj.pt", after=300_000)
    (partial,) = (tmp_path / VIVIDVR.folder / ".vividvr-partial").rglob("control_feat_proj.pt*")
    data = hub.repos[VIVIDVR.repo]["control_feat_proj.pt"]
    partial.write_bytes(bytes(len(data)))  # the right length, the wrong bytes

    with pytest.raises(ModelsError, match=r"did not give the published file: .*control_feat_proj\.pt\.incomplete has"
                                          r" SHA-256 [0-9a-f]{64}, not the published [0-9a-f]{64}\. That partial"
                                          r" file was deleted \(nothing else was touched\): run the same command"):
        download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
    assert not partial.exists()
    assert (tmp_path / VIVIDVR.folder / "connectors.pt").is_file()  # finished files stay
    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    assert fetched(hub)["control_feat_proj.pt"] is None  # from the first byte
    assert (tmp_path / VIVIDVR.folder / "control_feat_proj.pt").read_bytes() == data


def test_after_the_branch_moved_a_download_keeps_the_locked_commit_and_says_so(hub, tmp_path: Path, capsys) -> None:
    first = hub.commit
    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
    assert f"{VIVIDVR.repo}@{first} (the current commit of 'main'; recorded in {tmp_path / 'revisions.json'})" \
           in capsys.readouterr().out
    published = dict(hub.repos[VIVIDVR.repo])
    moved = {**hub.repos, VIVIDVR.repo: {**published, "connectors.pt": b"new weights " * 1000}}
    hub.push(moved, "fedcba9876543210fedcba9876543210fedcba98")
    (tmp_path / VIVIDVR.folder / "connectors.pt").unlink()
    capsys.readouterr()
    hub.requests.clear()

    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    assert f"{VIVIDVR.repo}@{first} (locked in {tmp_path / 'revisions.json'}" in capsys.readouterr().out
    assert all(f"/resolve/{first}/" in r[1] for r in hub.requests if "/resolve/" in r[1])
    assert (tmp_path / VIVIDVR.folder / "connectors.pt").read_bytes() == published["connectors.pt"]
    findings, how = verify(["vividvr"], tmp_path, endpoint=hub.url)
    assert not [f for f in findings if VIVIDVR.folder in str(f.path)]
    assert f"{VIVIDVR.repo}@{first} (locked in" in how[0]


def test_a_pinned_revision_wins_over_a_lock_from_another_version_and_says_so(hub, tmp_path: Path, capsys) -> None:
    old = "f" * 40
    (tmp_path / "revisions.json").write_text(json.dumps({COGVIDEOX.repo: old}))

    download_hub(COGVIDEOX, tmp_path, endpoint=hub.url)

    assert f"{COGVIDEOX.repo}@{COGVIDEOX.revision} (pinned by VividVR; {tmp_path / 'revisions.json'} locked {old}," \
           f" from another VividVR version: the pin wins; recorded in {tmp_path / 'revisions.json'})" \
           in capsys.readouterr().out
    assert json.loads((tmp_path / "revisions.json").read_text()) == {COGVIDEOX.repo: COGVIDEOX.revision}
    assert all(f"/resolve/{COGVIDEOX.revision}/" in r[1] for r in hub.requests if "/resolve/" in r[1])


def test_verify_against_an_unreachable_hub_asks_once_and_falls_back_to_the_manifest(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"

    findings, how = verify(["vividvr"], REFERENCE, endpoint=closed)

    assert how == [f"vividvr: the hub could not be asked: cannot reach {closed} for {COGVIDEOX.repo} (ConnectError:"
                   " [Errno 111] Connection refused): check the connection and the proxy variables, or set"
                   " HF_ENDPOINT to a reachable mirror; checked against the shipped manifest"]
    assert any("is not the published file" in f.problem for f in findings)


def test_verify_names_a_corrupted_and_a_missing_file_against_the_hub(hub, tmp_path: Path) -> None:
    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
    download_hub(COGVIDEOX, tmp_path, endpoint=hub.url)
    corrupted = tmp_path / "Vivid-VR/controlnet/diffusion_pytorch_model.safetensors"
    data = bytearray(corrupted.read_bytes())
    data[-10] ^= 0xFF  # same size, one byte flipped
    corrupted.write_bytes(bytes(data))
    (tmp_path / "CogVideoX1.5-5B/tokenizer/spiece.model").unlink()

    findings, _ = verify(["vividvr"], tmp_path, endpoint=hub.url)

    lines = [f.line() for f in findings]
    assert len(lines) == 2, lines
    published = hashlib.sha256(hub.repos[VIVIDVR.repo]["controlnet/diffusion_pytorch_model.safetensors"]).hexdigest()
    assert any(str(corrupted) in line and published in line and "SHA-256" in line
               and "delete it so that the download fetches it again" in line for line in lines), lines
    assert any(f"missing {tmp_path / 'CogVideoX1.5-5B/tokenizer/spiece.model'}" in line for line in lines), lines


@pytest.mark.parametrize(("status", "message"), [
    (401, r"refused zai-org/CogVideoX1\.5-5B \(HTTP 401\): log in with `hf auth login` or set HF_TOKEN"),
    (404, r"has no repository zai-org/CogVideoX1\.5-5B \(HTTP 404\): check HF_ENDPOINT"),
])
def test_a_hub_that_refuses_or_lacks_the_repository_is_named(hub, tmp_path: Path, status: int, message: str) -> None:
    hub.status = status
    with pytest.raises(ModelsError, match=message):
        download_hub(COGVIDEOX, tmp_path, endpoint=hub.url)
    assert not (tmp_path / COGVIDEOX.folder / "transformer").exists()


def test_release_file_resumes_and_is_kept_only_with_the_published_checksum(hub, tmp_path: Path, monkeypatch) -> None:
    data = os.urandom(50_000)
    hub.release_files["RealESRGAN_x2plus.pth"] = data
    monkeypatch.setenv("VIVIDVR_RELEASE_MIRROR", hub.url)
    item = ReleaseFile("RealESRGAN/RealESRGAN_x2plus.pth", "https://github.com/files/RealESRGAN_x2plus.pth",
                       hashlib.sha256(data).hexdigest(), len(data))
    partial = tmp_path / "RealESRGAN/RealESRGAN_x2plus.pth.incomplete"
    partial.parent.mkdir()
    partial.write_bytes(data[:20_000])  # what an interrupted run left

    assert download_release(item, tmp_path).read_bytes() == data
    assert hub.requests[-1] == ("GET", "/files/RealESRGAN_x2plus.pth", "bytes=20000-")

    wrong = ReleaseFile("RealESRGAN/other.pth", item.url, "0" * 64, len(data))
    with pytest.raises(ModelsError, match=r"SHA-256 is [0-9a-f]{64}, not the published 0{64}; it was deleted"):
        download_release(wrong, tmp_path)
    assert not (tmp_path / "RealESRGAN/other.pth").exists()
    assert not (tmp_path / "RealESRGAN/other.pth.incomplete").exists()
    assert (tmp_path / "RealESRGAN/RealESRGAN_x2plus.pth").read_bytes() == data  # nothing else touched


def test_cli_verify_offline_says_the_tiny_tree_is_not_the_published_checkpoints() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "vividvr_cli.main", "models", "verify", "--checkpoints",
                             str(REFERENCE)], capture_output=True, text=True, env=env, timeout=120, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "HF_HUB_OFFLINE is set; checked against the shipped manifest" in out
    for name in ("text_encoder/model.safetensors", "transformer/diffusion_pytorch_model.safetensors",
                 "vae/diffusion_pytorch_model.safetensors", "controlnet/diffusion_pytorch_model.safetensors",
                 "connectors.pt", "control_feat_proj.pt", "control_patch_embed.pt"):
        assert f"{name} is not the published file" in out, name
    assert "published [3072]" in out  # what was expected: the real width
    assert f"{REFERENCE} does not hold the published checkpoints" in out
    assert f"fix: vividvr models download --what vividvr --checkpoints {REFERENCE}" in out


def test_cli_download_honours_hf_endpoint(hub, tmp_path: Path) -> None:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "NO_PROXY": "127.0.0.1"}
    result = subprocess.run([sys.executable, "-m", "vividvr_cli.main", "models", "download", "--what", "vividvr",
                             "--checkpoints", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120,
                            check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "every file of vividvr under" in result.stdout
    assert (tmp_path / "Vivid-VR/connectors.pt").is_file()


def test_a_full_disk_is_named_and_what_arrived_is_kept(hub, tmp_path: Path, monkeypatch) -> None:
    data = os.urandom(30_000)
    hub.release_files["RealESRGAN_x4plus.pth"] = data
    monkeypatch.setenv("VIVIDVR_RELEASE_MIRROR", hub.url)
    item = ReleaseFile("RealESRGAN/RealESRGAN_x4plus.pth", "https://github.com/files/RealESRGAN_x4plus.pth",
                       hashlib.sha256(data).hexdigest(), len(data))

    def disk_fills_up(source, target, length=0):  # type: ignore[no-untyped-def]
        target.write(source.read(10_000))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("vividvr_cli.models_command.shutil.copyfileobj", disk_fills_up)
    full = r"is full \(\d+\.\d GiB free\): free space and run the same command again; what was downloaded is kept"
    with pytest.raises(ModelsError, match=full):
        download_release(item, tmp_path)
    partial = tmp_path / "RealESRGAN/RealESRGAN_x4plus.pth.incomplete"
    assert partial.read_bytes() == data[:10_000]
    monkeypatch.undo()
    monkeypatch.setenv("VIVIDVR_RELEASE_MIRROR", hub.url)

    assert download_release(item, tmp_path).read_bytes() == data
    assert hub.requests[-1][2] == "bytes=10000-"


def test_a_full_disk_during_a_hub_download_is_named_and_the_next_run_continues_from_the_partial(
        hub, tmp_path: Path, monkeypatch) -> None:
    real_http_get = file_download.http_get

    def disk_fills_at_40000_bytes(url: str, out, **kwargs) -> None:  # type: ignore[no-untyped-def]
        class Disk:
            def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
                return getattr(out, name)

            def write(self, data: bytes) -> int:
                if out.tell() + len(data) > 40_000:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return out.write(data)

        real_http_get(url, Disk() if url.endswith("/connectors.pt") else out, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(file_download, "http_get", disk_fills_at_40000_bytes)
        with pytest.raises(ModelsError, match=r"is full \(\d+\.\d GiB free\): free space and run the same command"
                                              r" again; what was downloaded is kept"):
            download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
    (partial,) = (tmp_path / VIVIDVR.folder / ".vividvr-partial").rglob("connectors.pt*")
    received = partial.stat().st_size
    assert received > 0
    hub.requests.clear()

    download_hub(VIVIDVR, tmp_path, endpoint=hub.url)

    assert resumed_from(fetched(hub)["connectors.pt"]) == received
    data = hub.repos[VIVIDVR.repo]["connectors.pt"]
    assert (tmp_path / VIVIDVR.folder / "connectors.pt").read_bytes() == data


def test_an_unreadable_lock_is_named_with_the_fix_and_nothing_is_downloaded(hub, tmp_path: Path) -> None:
    (tmp_path / "revisions.json").write_text("{not json")
    message = r"revisions\.json cannot be read .*: restore it from another machine's checkpoint folder, or delete it"

    with pytest.raises(ModelsError, match=message):
        download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
    with pytest.raises(ModelsError, match=message):
        verify(["vividvr"], tmp_path, endpoint=hub.url)
    assert not (tmp_path / VIVIDVR.folder).exists()


def test_a_locked_commit_the_hub_does_not_have_is_named_with_the_fix(hub, tmp_path: Path) -> None:
    gone = "e" * 40
    (tmp_path / "revisions.json").write_text(json.dumps({VIVIDVR.repo: gone}))

    with pytest.raises(ModelsError, match=rf"has no revision '{gone}' of csbhr/Vivid-VR: a mirror may not carry it"
                                          r" yet; if revisions\.json locks that commit, delete its line"):
        download_hub(VIVIDVR, tmp_path, endpoint=hub.url)
