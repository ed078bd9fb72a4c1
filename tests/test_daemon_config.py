"""Daemon config, path rules and the memory estimate: the checks that run before any job does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vividvr_daemon import memory
from vividvr_daemon.config import ConfigError, DaemonConfig, is_local, load_config
from vividvr_daemon.paths import PathRefused, check_sequence_frames, resolve_media, resolve_output, resolve_under
from vividvr_engine.settings import RestoreSettings


def test_a_config_file_sets_options_and_command_line_overrides_win(tmp_path: Path) -> None:
    file = tmp_path / "daemon.toml"
    file.write_text(
        f'listen = "127.0.0.1:6000"\nmedia_roots = ["{tmp_path}/m"]\noutput_roots = ["{tmp_path}/o"]\n'
        "idle_unload_seconds = 30\n"
    )
    config = load_config(file, {"listen": "127.0.0.1:7000", "data_dir": tmp_path / "d"})
    assert config.listen == "127.0.0.1:7000" and config.idle_unload_seconds == 30
    assert config.media_roots == (tmp_path / "m",) and config.data_dir == tmp_path / "d"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("colour = 1\n", "unknown option"),
        ("listen = [\n", "config file"),
        ('listen = "0.0.0.0:50777"\n', "needs tls_cert, tls_key and token_file"),
        ('listen = "nowhere"\n', "HOST:PORT"),
        ('tls_cert = "/c.pem"\n', "together"),
        ("worker_retries = -1\n", r"worker_retries must be a whole number >= 0, got -1"),
        ('worker_retries = "two"\n', r"worker_retries must be a whole number >= 0, got 'two'"),
    ],
)
def test_bad_config_is_refused_naming_the_option(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "daemon.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_config(file)


def test_a_short_token_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t").write_text("short")
    with pytest.raises(ConfigError, match="at least 16"):
        DaemonConfig(token_file=tmp_path / "t").validate()


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("unix", True),
        ("0.0.0.0", False),
        ("192.168.1.4", False),
        ("example.com", False),
    ],
)
def test_only_loopback_counts_as_local(host: str, local: bool) -> None:
    assert is_local(host) is local


def test_paths_must_stay_under_the_roots_after_resolving_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.mov").write_bytes(b"x")
    (root / "inside").symlink_to(root / "sub")
    (root / "outside").symlink_to(tmp_path)
    assert resolve_under(str(root / "inside" / "a.mov"), [root], "media") == root / "sub" / "a.mov"
    for bad in (str(root / "outside" / "x"), str(root / "sub" / ".." / "sub" / "a.mov"), "sub/a.mov", "", "/a\x00b"):
        with pytest.raises(PathRefused):
            resolve_under(bad, [root], "media")


def test_media_must_be_a_regular_file_and_must_exist(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.mov")
    with pytest.raises(PathRefused, match="not a regular file"):
        resolve_media(str(tmp_path / "pipe.mov"), [tmp_path])
    with pytest.raises(PathRefused, match="not a regular file"):
        resolve_media("/dev/null", [Path("/dev")])
    with pytest.raises(FileNotFoundError):
        resolve_media(str(tmp_path / "gone.mov"), [tmp_path])
    with pytest.raises(FileNotFoundError):
        resolve_media(str(tmp_path / "nofolder" / "s.####.exr"), [tmp_path])


def test_sequence_frames_that_escape_the_roots_are_refused(tmp_path: Path) -> None:
    (tmp_path / "s.0001.exr").write_bytes(b"x")
    (tmp_path / "s.0002.exr").symlink_to("/etc/hostname")
    pattern = resolve_media(str(tmp_path / "s.####.exr"), [tmp_path])
    check_sequence_frames(pattern, 1, 1, [tmp_path])
    with pytest.raises(PathRefused):
        check_sequence_frames(pattern, 1, 2, [tmp_path])


def test_outputs_are_plain_names_in_an_output_root(tmp_path: Path) -> None:
    assert resolve_output(str(tmp_path), "a.####.exr", [tmp_path]) == str(tmp_path / "a.####.exr")
    (tmp_path / "link.mov").symlink_to(tmp_path / "elsewhere.mov")
    for directory, name in (
        (str(tmp_path), "../a.mov"),
        (str(tmp_path), ".."),
        ("/etc", "a.mov"),
        (str(tmp_path), "link.mov"),
    ):
        with pytest.raises(PathRefused):
            resolve_output(directory, name, [tmp_path])


def test_a_short_clip_needs_no_more_than_its_own_frames() -> None:
    settings = RestoreSettings(upscale=2.0, num_temporal_process_frames=121)
    assert (
        memory.estimate("preview", settings, 48, 64, 9).bytes < memory.estimate("preview", settings, 48, 64, 121).bytes
    )
