"""A real daemon on a loopback port with the preview engine: streams, queue, cancellation, refusals."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from daemon_support import (
    config_for,
    kinds,
    make_media,
    reference_restore,
    request_for,
    same_files,
    segments_cover,
    start_daemon,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from vividvr_client.client import DaemonClient, DaemonError, make_request, pb
from vividvr_client.v1 import daemon_pb2_grpc
from vividvr_daemon.server import Daemon, DaemonAlreadyRunning


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    daemon = start_daemon(tmp_path)
    client = DaemonClient(daemon.address)
    yield daemon, client, tmp_path
    client.close()
    daemon.stop()


def test_restore_clip_streams_events_in_order_and_matches_in_process_restore(served) -> None:
    _daemon, client, root = served
    movie = make_media(root)
    events = list(client.restore(request_for(movie, root, "restored.####.png")))
    order = kinds(events)
    assert order[:2] == ["queued", "started"] and order[-1] == "completed"
    assert set(order[2:-1]) <= {"progress", "segment_written"}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert segments_cover(events, 3, 30)
    for event in events:
        if event.WhichOneof("kind") == "segment_written":
            segment = event.segment_written
            staged = [os.path.basename(p) for p in segment.staged_paths]
            numbers = range(segment.first_frame, segment.last_frame + 1)
            assert staged == [f"restored.{n:04d}.png" for n in numbers]  # one staged file per frame
    reference = reference_restore(movie, root / "ref" / "restored.####.png", 3, 30)
    assert same_files(list(events[-1].completed.paths), reference)


def test_submit_then_watch_replays_the_same_history_on_every_attach(served) -> None:
    _daemon, client, root = served
    movie = make_media(root)
    job_id = client.submit(request_for(movie, root, "w.####.png")).job_id
    first = list(client.watch(job_id))
    again = list(client.watch(job_id))
    later = list(client.watch(job_id, after_seq=2))
    assert kinds(first)[-1] == "completed"
    # Every milestone is stored and replayed byte for byte; progress is kept only as the latest.
    assert [e.SerializeToString() for e in again if e.WhichOneof("kind") != "progress"] == [
        e.SerializeToString() for e in first if e.WhichOneof("kind") != "progress"
    ]
    assert kinds(again).count("progress") <= 1
    assert [e.seq for e in later] == [e.seq for e in again if e.seq > 2]
    job = client.get(job_id)
    assert job.state == pb.JOB_STATE_COMPLETED and job.completed.paths == first[-1].completed.paths
    assert same_files(list(job.completed.paths), reference_restore(movie, root / "ref" / "w.####.png", 3, 30))


def test_completed_clip_references_restored_media_with_the_source_range_and_timecode(served) -> None:
    _daemon, client, root = served
    movie = make_media(root)
    request = request_for(movie, root, "tc.####.png", frames="10-19", handles=(2, 3))
    completed = list(client.restore(request))[-1].completed
    clip = json.loads(completed.otio_clip_json)
    start = clip["source_range"]["start_time"]
    assert (start["value"], start["rate"]) == (86400 + 10, 24.0)  # 01:00:00:10, the requested first frame
    assert clip["source_range"]["duration"]["value"] == 10
    ref = clip["media_references"]["DEFAULT_MEDIA"]
    assert ref["start_frame"] == 8 and ref["available_range"]["start_time"]["value"] == 86400 + 8
    assert ref["available_range"]["duration"]["value"] == 15  # 2 + 10 + 3 handles included
    assert (completed.first_frame, completed.last_frame) == (8, 22)


def test_ten_concurrent_clients_all_complete(served) -> None:
    daemon, client, root = served
    movie = make_media(root, frames=12)

    def one(i: int) -> list:
        with DaemonClient(daemon.address) as own:
            return list(own.restore(request_for(movie, root, f"c{i}.####.png", frames="0-11")))

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(10)))
    assert all(kinds(events)[-1] == "completed" for events in results)
    assert len({events[0].job_id for events in results}) == 10
    assert client.status().jobs_queued == 0


def test_priority_jumps_the_queue_and_fifo_holds_within_a_priority(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, test_segment_delay_seconds=0.3)
    movie = make_media(tmp_path, frames=12)
    try:
        with DaemonClient(daemon.address) as client:
            blocker = client.submit(request_for(movie, tmp_path, "b.####.png", frames="0-11")).job_id
            next(e for e in client.watch(blocker) if e.WhichOneof("kind") == "started")
            low = [client.submit(request_for(movie, tmp_path, f"l{i}.####.png", frames="0-0")).job_id for i in range(2)]
            high = client.submit(request_for(movie, tmp_path, "h.####.png", frames="0-0", priority=5))
            assert high.queue_position == 0
            assert client.get(low[1]).queue_position == 2
            for job in (*low, high.job_id):
                list(client.watch(job))
            started = sorted((client.get(j).started_time, j) for j in (*low, high.job_id))
            assert [j for _, j in started] == [high.job_id, *low]
    finally:
        daemon.stop()


def test_cancel_stops_a_running_job_and_says_so(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, test_segment_delay_seconds=0.5)
    movie = make_media(tmp_path)
    try:
        with DaemonClient(daemon.address) as client:
            job_id = client.submit(request_for(movie, tmp_path, "x.####.png")).job_id
            events = client.watch(job_id)
            for event in events:
                if event.WhichOneof("kind") == "segment_written":
                    client.cancel(job_id)
                    break
            rest = list(events)
            assert kinds(rest)[-1] == "cancelled"
            assert client.get(job_id).state == pb.JOB_STATE_CANCELLED
            assert not list((tmp_path / "out").iterdir())  # nothing presented as finished
            queued = client.submit(request_for(movie, tmp_path, "y.####.png")).job_id
            assert client.cancel(queued).state in (pb.JOB_STATE_CANCELLED, pb.JOB_STATE_RUNNING)
            assert kinds(client.watch(queued))[-1] == "cancelled"
    finally:
        daemon.stop()


def test_disconnect_keeps_the_job_running_unless_the_request_asks_to_cancel(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, test_segment_delay_seconds=0.3)
    movie = make_media(tmp_path, frames=20)
    try:
        ids = {}
        for flag in (False, True):
            channel = grpc.insecure_channel(daemon.address)
            stream = daemon_pb2_grpc.RestorerStub(channel).RestoreClip(
                request_for(movie, tmp_path, f"d{int(flag)}.####.png", frames="0-19", cancel_on_disconnect=flag)
            )
            ids[flag] = next(e for e in stream if e.WhichOneof("kind") == "started").job_id
            stream.cancel()
            channel.close()
        with DaemonClient(daemon.address) as client:
            assert kinds(client.watch(ids[False]))[-1] == "completed"
            assert kinds(client.watch(ids[True]))[-1] == "cancelled"
    finally:
        daemon.stop()


def _code(call) -> grpc.StatusCode | None:  # type: ignore[no-untyped-def]
    """The status a refused call got; None when it was accepted."""
    try:
        result = call()
        if hasattr(result, "__next__"):
            list(result)
    except DaemonError as exc:
        return exc.code
    return None


def test_every_bad_input_gets_its_status_code_and_the_daemon_keeps_serving(served) -> None:
    _daemon, client, root = served
    movie = make_media(root)
    out = str(root / "out")
    (root / "media" / "notes.mov").write_text("not a movie")
    (root / "out" / "taken.mov").write_bytes(b"finished work")
    escape = root / "media" / "escape.mov"
    escape.symlink_to("/etc/hostname")
    fifo = root / "media" / "pipe.mov"
    os.mkfifo(fifo)
    good = {"engine": "preview", "settings": {"num_temporal_process_frames": 9}}

    def req(media: str = str(movie), directory: str = out, name: str = "o.mov", **kw: object):  # type: ignore[no-untyped-def]
        values = dict(good, **kw)
        return make_request(media, directory, name, **values)

    S = grpc.StatusCode
    cases = {
        "malformed OTIO": (req(otio_clip_json="{not json"), S.INVALID_ARGUMENT),
        "OTIO that is not a clip": (req(otio_clip_json='{"OTIO_SCHEMA": "Track.1"}'), S.INVALID_ARGUMENT),
        "missing media": (req(str(root / "media" / "gone.mov")), S.NOT_FOUND),
        "unreadable media": (req(str(root / "media" / "notes.mov")), S.INVALID_ARGUMENT),
        "range outside the media": (req(frames="30-99"), S.OUT_OF_RANGE),
        "malformed range": (req(frames="ten-twenty"), S.INVALID_ARGUMENT),
        "zero steps": (req(settings={"num_inference_steps": 0}), S.INVALID_ARGUMENT),
        "negative tile": (req(settings={"tile_size": -8}), S.INVALID_ARGUMENT),
        "100000-pixel sides": (req(settings={"short_side": 100000}), S.INVALID_ARGUMENT),
        "unknown engine": (req(engine="nope"), S.INVALID_ARGUMENT),
        "media outside the roots": (req("/etc/hostname"), S.PERMISSION_DENIED),
        "dot-dot in media path": (req(str(root / "media" / ".." / "media" / "plate.mov")), S.PERMISSION_DENIED),
        "symlink escaping the roots": (req(str(escape)), S.PERMISSION_DENIED),
        "a FIFO, not a file": (req(str(fifo)), S.PERMISSION_DENIED),
        "a device file": (req("/dev/zero"), S.PERMISSION_DENIED),
        "relative media path": (req("plate.mov"), S.PERMISSION_DENIED),
        "output outside the roots": (req(directory="/tmp"), S.PERMISSION_DENIED),
        "output name with a slash": (req(name="../o.mov"), S.PERMISSION_DENIED),
        "output that exists": (req(name="taken.mov"), S.ALREADY_EXISTS),
        "unknown name token": (req(name="{shot}.mov"), S.INVALID_ARGUMENT),
        "odd width for ProRes": (req(settings={"short_side": 1024}), S.INVALID_ARGUMENT),
        "format the name cannot hold": (req(name="o.mp4", output_format="prores"), S.INVALID_ARGUMENT),
        "no source": (pb.RestoreRequest(output=pb.OutputSpec(directory=out)), S.INVALID_ARGUMENT),
    }
    for label, (request, code) in cases.items():
        assert _code(lambda r=request: client.submit(r)) == code, label
        assert _code(lambda r=request: client.restore(r)) == code, label
    for job_call in (client.get, client.cancel, lambda j: list(client.watch(j))):
        assert _code(lambda c=job_call: c("no-such-job")) == S.NOT_FOUND
    assert _code(lambda: client.get("")) == S.INVALID_ARGUMENT
    assert _code(lambda: client.submit(req(label="x" * 2_000_000))) == S.RESOURCE_EXHAUSTED  # request size cap
    assert client.status().jobs_queued == 0
    final = list(client.restore(req(name="fine.mov", frames="0-3", settings={"upscale": 2.0})))[-1]
    assert final.WhichOneof("kind") == "completed", final


def test_a_job_that_cannot_fit_is_refused_naming_the_setting_to_change(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, memory_limit_gib=0.001)
    movie = make_media(tmp_path)
    try:
        with DaemonClient(daemon.address) as client, pytest.raises(DaemonError) as info:
            client.submit(request_for(movie, tmp_path, "big.####.png"))
        assert info.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "num_temporal_process_frames (now 9)" in info.value.message
        assert "memory_limit_gib" in info.value.message
    finally:
        daemon.stop()


def test_a_second_daemon_on_the_same_data_folder_is_refused(served) -> None:
    _daemon, _client, root = served
    with pytest.raises(DaemonAlreadyRunning):
        Daemon(config_for(root))


def test_health_and_reflection_answer(served) -> None:
    daemon, _client, _root = served
    channel = grpc.insecure_channel(daemon.address)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="vividvr.v1.Restorer"))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for s in next(replies).list_services_response.service}
    assert {"vividvr.v1.Restorer", "grpc.health.v1.Health"} <= names
    channel.close()


def test_status_reports_devices_memory_and_the_warm_model(served) -> None:
    _daemon, client, root = served
    movie = make_media(root, frames=4)
    list(client.restore(request_for(movie, root, "s.####.png", frames="0-3")))
    status = client.status()
    assert [d.name for d in status.devices] == ["cpu"] and status.devices[0].memory_total_bytes > 0
    assert status.host_memory_available_bytes > 0 and status.version
    assert [(m.engine, m.device) for m in status.loaded_models] == [("preview", "cpu")]


def test_a_token_daemon_refuses_calls_without_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret-token-of-sufficient-length\n")
    daemon = start_daemon(tmp_path, token_file=token_file)
    try:
        with DaemonClient(daemon.address) as anonymous, pytest.raises(DaemonError) as info:
            anonymous.status()
        assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
        with DaemonClient(daemon.address, token="wrong-token-wrong-token") as wrong, pytest.raises(DaemonError):
            list(wrong.watch("abc"))
        with DaemonClient(daemon.address, token="s3cret-token-of-sufficient-length") as client:
            assert client.status().version
    finally:
        daemon.stop()


def test_listening_beyond_loopback_needs_tls_and_a_token(tmp_path: Path) -> None:
    from vividvr_daemon.config import ConfigError

    with pytest.raises(ConfigError, match="tls_cert, tls_key and token_file"):
        Daemon(config_for(tmp_path, listen="0.0.0.0:0"))


def test_watchers_are_told_about_each_event_once(served) -> None:
    daemon, client, root = served
    movie = make_media(root)
    job_id = client.submit(request_for(movie, root, "many.####.png")).job_id
    seen: list[list[int]] = [[] for _ in range(5)]

    def follow(i: int) -> None:
        with DaemonClient(daemon.address) as own:
            seen[i] = [e.seq for e in own.watch(job_id)]

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(s == sorted(set(s)) and s[-1] == seen[0][-1] for s in seen)


def test_an_otio_clip_from_a_25_fps_resolve_timeline_restores_its_source_frames(served) -> None:
    _daemon, client, root = served
    movie = make_media(root)
    clip = {
        "OTIO_SCHEMA": "Clip.2",
        "name": "plate.mov",
        "source_range": {  # frames 5..14 of 24 fps media at 01:00:00:00, written at the timeline rate
            "OTIO_SCHEMA": "TimeRange.1",
            "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25.0, "value": 90005.0},
            "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 25.0, "value": 10.0},
        },
        "media_references": {
            "DEFAULT_MEDIA": {
                "OTIO_SCHEMA": "ExternalReference.1",
                "target_url": str(movie),
                "available_range": {
                    "OTIO_SCHEMA": "TimeRange.1",
                    "start_time": {"OTIO_SCHEMA": "RationalTime.1", "rate": 24.0, "value": 86400.0},
                    "duration": {"OTIO_SCHEMA": "RationalTime.1", "rate": 24.0, "value": 40.0},
                },
            }
        },
        "active_media_reference_key": "DEFAULT_MEDIA",
    }
    request = make_request(
        "", str(root / "out"), "{name}_r.####.png", otio_clip_json=json.dumps(clip), handles=(2, 2),
        engine="preview", settings={"upscale": 2.0, "num_temporal_process_frames": 9}, output_format="png16",
    )
    events = list(client.restore(request))
    completed = events[-1].completed
    assert (completed.first_frame, completed.last_frame) == (3, 16)
    assert completed.paths[0].endswith("plate_r.0003.png")
    restored = json.loads(completed.otio_clip_json)
    ref = restored["media_references"]["DEFAULT_MEDIA"]
    assert ref["available_range"]["start_time"]["value"] == 86403 and ref["start_frame"] == 3
    assert same_files(list(completed.paths), reference_restore(movie, root / "ref" / "plate_r.####.png", 3, 16))


def test_a_graceful_stop_requeues_the_running_job_and_the_next_start_finishes_it(tmp_path: Path) -> None:
    movie = make_media(tmp_path)
    daemon = start_daemon(tmp_path, test_segment_delay_seconds=0.4)
    with DaemonClient(daemon.address) as client:
        job_id = client.submit(request_for(movie, tmp_path, "g.####.png")).job_id
        next(e for e in client.watch(job_id) if e.WhichOneof("kind") == "segment_written")
    daemon.stop()
    daemon = start_daemon(tmp_path)
    try:
        with DaemonClient(daemon.address) as client:
            history = list(client.watch(job_id))
            assert kinds(history).count("started") == 2 and kinds(history)[-1] == "completed"
            assert segments_cover(history, 3, 30)
            reference = reference_restore(movie, tmp_path / "ref" / "g.####.png", 3, 30)
            assert same_files(list(history[-1].completed.paths), reference)
    finally:
        daemon.stop()


def test_an_idle_model_is_unloaded_after_the_configured_time(tmp_path: Path) -> None:
    movie = make_media(tmp_path, frames=4)
    daemon = start_daemon(tmp_path, idle_unload_seconds=0.5)
    try:
        with DaemonClient(daemon.address) as client:
            list(client.restore(request_for(movie, tmp_path, "i.####.png", frames="0-3")))
            assert len(client.status().loaded_models) == 1
            deadline = time.monotonic() + 10
            while client.status().loaded_models and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not client.status().loaded_models
    finally:
        daemon.stop()


def test_an_idle_daemon_does_not_wake_itself(served) -> None:
    daemon, client, root = served
    list(client.restore(request_for(make_media(root, frames=4), root, "q.####.png", frames="0-3")))
    version = daemon.core.store.version
    time.sleep(2.5)  # a worker polls the queue every second; an empty poll must not count as a change
    assert daemon.core.store.version == version


def test_an_image_sequence_input_restores_and_gaps_or_escaping_frames_are_refused(served) -> None:
    _daemon, client, root = served
    movie = make_media(root, frames=12)
    frames = root / "media" / "seq"
    reference_restore(movie, frames / "shot.####.png", 0, 11)  # a real PNG sequence, frames 0-11
    pattern = str(frames / "shot.####.png")
    seq_request = make_request(pattern, str(root / "out"), "{name}_r.####.png", frames="2-9", engine="preview",
                               settings={"num_temporal_process_frames": 9}, output_format="png16")
    completed = list(client.restore(seq_request))[-1].completed
    assert completed.paths[0].endswith("shot_r.0002.png") and len(completed.paths) == 8
    (frames / "shot.0005.png").unlink()
    with pytest.raises(DaemonError) as gap:
        client.submit(make_request(pattern, str(root / "out"), "g.####.png", frames="2-9", engine="preview"))
    assert gap.value.code == grpc.StatusCode.INVALID_ARGUMENT and "missing" in gap.value.message
    (frames / "shot.0005.png").symlink_to("/etc/hostname")
    with pytest.raises(DaemonError) as escape:
        client.submit(make_request(pattern, str(root / "out"), "e.####.png", frames="2-9", engine="preview"))
    assert escape.value.code == grpc.StatusCode.PERMISSION_DENIED
