"""The one module that calls DaVinci Resolve. Everything Resolve-specific, and every guess, is here.

Facts and traps come from ../shared/design/hosts.md. Where hosts.md is silent the first guess is
a named constant or a small function below, and what Resolve did is read back, never trusted:
- `APPEND_BASE`, `TAKE_BASE`, `TAKE_END_EXCLUSIVE`: how `AppendToTimeline`/`AddTake` count
  `startFrame`/`endFrame` (AppendToTimeline's exclusive end is measured). The placed item or
  selected take is read back; a range one frame off is corrected once, anything else undone.
- Marker frames count from the item's first frame (else from the media's: tried second); the
  marker is read back. Clip colour and the bin an import landed in are read back too.
- `sequence_pattern`/`sequence_on_disk`: an image sequence's "File Path" as `name.[1001-1100].exr`,
  or as a `%04d`/`####` pattern whose numbers are read from the folder.
- `VIDEO_TYPES`: which "Type" clip properties are restorable video.
The Python bridge answers any attribute name with a callable, so method presence is checked with
`dir()`, never `hasattr`.
"""

from __future__ import annotations

import builtins
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from vividvr_client.timecode import parse_timecode
from vividvr_resolve.editorial import (
    ClipMedia,
    ItemFacts,
    Restored,
    SourceReadings,
    Unusable,
    correction,
    parse_rate,
    printf_pattern,
    same_clock,
    shown_frames,
)

BIN_NAME = "VividVR Restored"
APPEND_BASE = 0  # AppendToTimeline's startFrame of a clip's first frame (ASSUMED; read back)
TAKE_BASE = 0  # AddTake's start of a clip's first frame (ASSUMED; read back)
TAKE_END_EXCLUSIVE = True  # AddTake's end, like AppendToTimeline's (ASSUMED; read back)
VIDEO_TYPES = ("Video", "Video + Audio")
SKIP_TYPES = {"Audio": "is audio", "Still": "is a still image", "Compound": "is a compound clip",
              "Timeline": "is a nested timeline", "Generator": "is a generator", "Fusion Title": "is a title",
              "Title": "is a title", "Multicam": "is a multicam clip"}
SEQUENCE_PATH = re.compile(r"^(?P<head>.*)\[(?P<first>\d+)-(?P<last>\d+)\](?P<tail>[^\[\]]*)$")
FRAME_FIELD = re.compile(r"%0?(?P<printf>\d*)d|(?P<hashes>#+)")
MARKER_COLOR = {"queued": "Blue", "restored": "Green", "failed": "Red"}
MARKER_KEY = "vividvr"  # customData of our markers is JSON with this key


class HostError(RuntimeError):
    """Resolve refused or silently ignored a call; the message says which and what was expected."""


class TakeUnverified(HostError):
    """A take did not show the frames asked for and was removed again; the item is as it was."""


def has_method(obj: Any, name: str) -> bool:
    return name in dir(obj)


def same_clip(a: Any, b: Any) -> bool:
    """One media pool clip: the bridge may hand out a new proxy object per call, so compare ids."""
    return a is not None and b is not None and a.GetUniqueId() == b.GetUniqueId()


def sequence_pattern(file_path: str) -> tuple[str, int, int] | None:
    """(`name.####.exr`, first, last) when Resolve's "File Path" names an image sequence, else None."""
    match = SEQUENCE_PATH.match(file_path)
    if match is None:
        return None
    digits = match["first"]
    return f"{match['head']}{'#' * len(digits)}{match['tail']}", int(digits), int(match["last"])


def sequence_on_disk(file_path: str, frames: int) -> tuple[str, int] | None:
    """(`name.####.exr`, first number) for a `%04d`/`####` "File Path" whose folder holds exactly `frames`
    consecutive files; None when the path has no frame field; Unusable when the files do not tell."""
    field = FRAME_FIELD.search(os.path.basename(file_path))
    if field is None:
        return None
    directory, name = os.path.split(file_path)
    head, tail = name[: field.start()], name[field.end():]
    width = len(field["hashes"] or "") or int(field["printf"] or 1)
    numbered = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail) + "$")
    try:
        numbers = sorted(int(m[1]) for m in map(numbered.match, os.listdir(directory or ".")) if m)
    except OSError:
        numbers = []
    if not numbers or numbers != list(range(numbers[0], numbers[0] + frames)):
        raise Unusable(f"is an image sequence whose files in {directory} do not match its {frames} frames;"
                       " re-import it with the frame range it should use")
    return os.path.join(directory, f"{head}{'#' * width}{tail}"), numbers[0]


def clip_media(mpi: Any) -> ClipMedia:
    """A media pool clip's file and timing, or Unusable saying why it cannot be restored."""
    props = mpi.GetClipProperty() or {}
    kind = props.get("Type", "")
    if kind not in VIDEO_TYPES:
        raise Unusable(SKIP_TYPES.get(kind, f"is of type {kind!r}, not video"))
    path = props.get("File Path", "")
    if not path:
        raise Unusable("has no media file")
    frames = int(float(props.get("Frames") or 0))
    if frames <= 0:
        raise Unusable("reports no frames")
    rate = parse_rate(props.get("FPS", ""))
    start_tc = props.get("Start TC") or ""
    try:
        parse_timecode(start_tc, rate)
    except ValueError:
        raise Unusable(f"has a start timecode Resolve reports as {start_tc!r}, which cannot be read at"
                       f" {props.get('FPS')} fps; set its Start TC in Clip Attributes") from None
    sequence = sequence_pattern(path)
    if sequence is not None:
        pattern, first, _ = sequence
        return ClipMedia(mpi.GetName(), pattern, "sequence", first, frames, rate, start_tc)
    on_disk = sequence_on_disk(path, frames)
    if on_disk is not None:
        return ClipMedia(mpi.GetName(), on_disk[0], "sequence", on_disk[1], frames, rate, start_tc)
    return ClipMedia(mpi.GetName(), path, "movie", 0, frames, rate, start_tc)


class ResolveHost:
    """The live `resolve` object, reduced to what the plugin needs."""

    def __init__(self, resolve: Any) -> None:
        self.resolve = resolve
        manager = resolve.GetProjectManager()
        self.project = manager.GetCurrentProject() if manager else None
        if self.project is None:
            raise HostError("no project is open in DaVinci Resolve")
        self.pool = self.project.GetMediaPool()
        self.warnings: list[str] = []  # what Resolve did differently from what was asked, but harmlessly

    # ------------------------------------------------------------------ reading

    def timeline(self) -> Any:
        return self.project.GetCurrentTimeline()

    def timeline_rate(self, timeline: Any) -> Fraction:
        return parse_rate(timeline.GetSetting("timelineFrameRate") or self.project.GetSetting("timelineFrameRate"))

    def selection(self) -> tuple[str, list]:
        """("timeline", items) or ("media pool", clips): the selected timeline clips where this release
        can say, else the clip under the playhead, else the selected media pool clips."""
        timeline = self.timeline()
        if timeline is not None:
            if has_method(timeline, "GetSelectedClips"):
                selected = list(timeline.GetSelectedClips() or [])
                if selected:
                    return "timeline", selected
            current = timeline.GetCurrentVideoItem()
            if current is not None:
                return "timeline", [current]
        return "media pool", list(self.pool.GetSelectedClips() or [])

    def item_facts(self, item: Any) -> ItemFacts:
        track_type, track = item.GetTrackTypeAndIndex()
        if track_type != "video":
            raise Unusable(f"is on an {track_type} track")
        mpi = item.GetMediaPoolItem()
        if mpi is None:
            raise Unusable("is a generator, title or effect (no media file)")
        media = clip_media(mpi)
        start, end = item.GetSourceStartFrame(), item.GetSourceEndFrame()
        left, right = item.GetLeftOffset(), item.GetRightOffset()
        if None in (start, end, left, right):
            raise Unusable("reports no source frames (Resolve older than 18.5?)")
        seconds = item.GetSourceStartTime() if has_method(item, "GetSourceStartTime") else None
        readings = SourceReadings(float(start), float(end), float(left), float(right),
                                  None if seconds is None else float(seconds))
        return ItemFacts(item.GetUniqueId(), item.GetName(), int(track), int(item.GetStart()), int(item.GetEnd()),
                         readings, media)

    def shows(self, item: Any, rate: Fraction) -> tuple[str, int, int, int, int] | None:
        """(media pool clip id, first media index, end exclusive, record start, duration) an item shows, read
        back; None when Resolve's readings of it disagree."""
        try:
            start, end = shown_frames(self.item_facts(item), rate)
        except Unusable:
            return None
        return item.GetMediaPoolItem().GetUniqueId(), start, end, int(item.GetStart()), int(item.GetDuration())

    def timeline_items(self) -> Iterator[tuple[Any, Any]]:
        """(timeline, item) for every video item of every timeline in the project."""
        for index in range(1, (self.project.GetTimelineCount() or 0) + 1):
            timeline = self.project.GetTimelineByIndex(index)
            for track in range(1, (timeline.GetTrackCount("video") or 0) + 1):
                for item in timeline.GetItemListInTrack("video", track) or []:
                    yield timeline, item

    # ------------------------------------------------------------------ markers (job records)

    @staticmethod
    def our_markers(item: Any) -> list[tuple[int, dict]]:
        """(frame, record) for each marker this plugin left on `item`."""
        found = []
        for frame, marker in (item.GetMarkers() or {}).items():
            try:
                data = json.loads(marker.get("customData") or "")
            except ValueError:
                continue
            if isinstance(data, dict) and MARKER_KEY in data:
                found.append((int(frame), data[MARKER_KEY]))
        return found

    @staticmethod
    def add_marker(item: Any, state: str, name: str, note: str, record: dict) -> int:
        """A marker carrying `record` on the item's first free frame, read back; its frame.

        Frames are tried counted from the item's first frame, then (if refused) from the media's.
        """
        custom = json.dumps({MARKER_KEY: record}, sort_keys=True)
        taken = set((item.GetMarkers() or {}).keys())
        free = next((f for f in range(int(item.GetDuration())) if f not in taken), None)
        if free is not None:
            for frame in dict.fromkeys((free, free + round(item.GetLeftOffset() or 0))):
                if frame not in taken and item.AddMarker(frame, MARKER_COLOR[state], name, note, 1, custom):
                    if ((item.GetMarkers() or {}).get(frame) or {}).get("customData") == custom:
                        return frame
                    raise HostError(f"Resolve took a marker on {item.GetName()!r} but does not show it")
        raise HostError(f"Resolve refused a marker on {item.GetName()!r}")

    @staticmethod
    def delete_marker(item: Any, frame: int) -> None:
        item.DeleteMarkerAtFrame(frame)

    # ------------------------------------------------------------------ bringing back

    def restored_bin(self) -> Any:
        """The "VividVR Restored" bin under the root, made on first use."""
        root = self.pool.GetRootFolder()
        for folder in root.GetSubFolderList() or []:
            if folder.GetName() == BIN_NAME:
                return folder
        folder = self.pool.AddSubFolder(root, BIN_NAME)
        if folder is None:
            raise HostError(f"Resolve refused to make the {BIN_NAME!r} bin")
        return folder

    def import_restored(self, restored: Restored, fps: str = "") -> Any:
        """Import into the restored bin (imports land in the current bin, so set it first, then put it back).

        The clip is read back: its frames, first file number and (given `fps`, the original clip's "FPS")
        frame rate must be the restored media's, else it is removed again; one in another bin is moved.
        """
        folder = self.restored_bin()
        previous = self.pool.GetCurrentFolder()
        self.pool.SetCurrentFolder(folder)
        try:
            if restored.kind == "sequence":
                entry: Any = {"FilePath": printf_pattern(restored.path), "StartIndex": restored.first_number,
                              "EndIndex": restored.last_number}
            else:
                entry = restored.path
            imported = self.pool.ImportMedia([entry]) or []
        finally:
            if previous is not None:
                self.pool.SetCurrentFolder(previous)
        if not imported:
            raise HostError(f"Resolve imported nothing from {restored.path}")
        mpi = imported[0]
        try:
            self._check_import(mpi, restored, fps)
        except (HostError, Unusable) as exc:
            self.discard(mpi)
            raise HostError(f"the restored media {restored.path} did not import as written: {exc}") from None
        self._file_in(mpi, folder)
        return mpi

    @staticmethod
    def _check_import(mpi: Any, restored: Restored, fps: str) -> None:
        media = clip_media(mpi)
        count = restored.last_number - restored.first_number + 1
        first = restored.first_number if restored.kind == "sequence" else 0  # a movie's frames count from 0
        if (media.kind, media.first_number, media.frames) != (restored.kind, first, count):
            raise HostError(f"Resolve reads it as a {media.kind} of {media.frames} frames from {media.first_number},"
                            f" not a {restored.kind} of {count} from {first}")
        if fps and not same_clock(media.rate, parse_rate(fps)):
            mpi.SetClipProperty("FPS", fps)  # an image sequence takes the project's rate on import
            if not same_clock(clip_media(mpi).rate, parse_rate(fps)):
                raise HostError(f"Resolve plays it at {float(media.rate):.3f} fps, not {fps}")

    def _file_in(self, mpi: Any, folder: Any) -> None:
        """Make sure `mpi` is in `folder` (imports land in the current bin, LEDGER): move it if not, else warn."""
        def inside() -> bool:
            return any(c.GetUniqueId() == mpi.GetUniqueId() for c in folder.GetClipList() or [])

        if not inside() and not (has_method(self.pool, "MoveClips") and self.pool.MoveClips([mpi], folder)
                                 and inside()):
            self.warnings.append(f"the restored clip is not in the {BIN_NAME!r} bin")

    def discard(self, mpi: Any) -> None:
        """Remove a clip this run imported (its placement failed), so the project is as it was."""
        self.pool.DeleteClips([mpi])

    def add_take(self, item: Any, mpi: Any, start: int, end: int, rate: Fraction) -> None:
        """Show media indices [start, end) of `mpi` as a new, selected take on `item`, read back.

        The item must then show exactly those frames for as long as it did, and `GetTakeByIndex` must
        echo the call. One frame off is corrected once; otherwise the take is removed, the item shows
        what it did, and TakeUnverified says why.
        """
        before = self.shows(item, rate)
        had = int(item.GetTakesCount() or 0)
        previous = int(item.GetSelectedTakeIndex() or 1) if had else 1
        asked = (start + TAKE_BASE, (end if TAKE_END_EXCLUSIVE else end - 1) + TAKE_BASE)
        problem = "Resolve refused the take"
        for _attempt in range(2):
            if not item.AddTake(mpi, *asked):
                break
            index = int(item.GetTakesCount() or 0)
            take = item.GetTakeByIndex(index) or {}
            shown = self.shows(item, rate) if item.SelectTakeByIndex(index) else None
            echoed = (take.get("startFrame"), take.get("endFrame")) == asked and same_clip(take.get("mediaPoolItem"),
                                                                                          mpi)
            if echoed and shown is not None and before is not None and shown[1:3] == (start, end) \
                    and shown[3:] == before[3:]:
                return
            problem = f"asked for restored frames {start}..{end - 1}, the take showed {_described(shown)}"
            item.SelectTakeByIndex(previous)
            item.DeleteTakeByIndex(index)
            fixed = correction(asked, shown[1:3], (start, end)) if echoed and shown is not None else None
            if fixed is None:
                break
            asked = fixed
        if not had:
            item.FinalizeTake()
        if self.shows(item, rate) != before:
            raise HostError(f"{problem}; Resolve would not put {item.GetName()!r} back as it was: undo (Ctrl+Z)")
        raise TakeUnverified(f"{problem}; the take was removed")

    def occupied(self, timeline: Any) -> list[list[tuple[int, int]]]:
        """Record ranges [start, end) of every video track."""
        return [
            [(int(i.GetStart()), int(i.GetEnd())) for i in timeline.GetItemListInTrack("video", track) or []]
            for track in range(1, (timeline.GetTrackCount("video") or 0) + 1)
        ]

    def append(self, timeline: Any, mpi: Any, start: int, end: int, track: int, record: int, duration: int,
               rate: Fraction) -> Any:
        """Place media indices [start, end) at `record` on `track` (made if missing), read back.

        The placed item must start at `record`, last `duration` and show exactly those frames. One
        frame off is corrected once; otherwise it is deleted (with any track made for it) and HostError
        says why, so the timeline is as it was.
        """
        tracks = int(timeline.GetTrackCount("video") or 0)
        while (timeline.GetTrackCount("video") or 0) < track:
            if not timeline.AddTrack("video"):
                self._drop_tracks(timeline, tracks)
                raise HostError("Resolve refused to add a video track")
        asked = (start + APPEND_BASE, end + APPEND_BASE)
        problem = f"Resolve dropped the restored clip at frame {record} on V{track} (an overlap?)"
        for _attempt in range(2):
            landed = self._append_once(timeline, mpi, asked, track, record)
            if landed is None:
                break
            shown = self.shows(landed, rate)
            if shown is not None and shown[1:] == (start, end, record, duration):
                return landed
            problem = (f"asked for restored frames {start}..{end - 1} at {record} for {duration} frames,"
                       f" Resolve placed {_described(shown)}")
            timeline.DeleteClips([landed])
            fixed = correction(asked, shown[1:3], (start, end)) if shown is not None and shown[3] == record else None
            if fixed is None:
                break
            asked = fixed
        self._drop_tracks(timeline, tracks)
        raise HostError(f"{problem}; nothing was left on the timeline")

    def _append_once(self, timeline: Any, mpi: Any, asked: tuple[int, int], track: int, record: int) -> Any:
        """The item one AppendToTimeline call put at `record` on `track`, or None (it was dropped)."""
        current = self.project.GetCurrentTimeline()
        if current is not timeline:
            self.project.SetCurrentTimeline(timeline)  # AppendToTimeline places on the current timeline
        try:
            placed = self.pool.AppendToTimeline([{"mediaPoolItem": mpi, "startFrame": asked[0], "endFrame": asked[1],
                                                  "mediaType": 1, "trackIndex": track, "recordFrame": record}]) or []
        finally:
            if current is not None and current is not timeline:
                self.project.SetCurrentTimeline(current)
        landed = [i for i in timeline.GetItemListInTrack("video", track) or [] if int(i.GetStart()) == record]
        return landed[0] if placed and landed else None

    @staticmethod
    def _drop_tracks(timeline: Any, keep: int) -> None:
        """Delete the video tracks above `keep` that this run added (they are empty)."""
        while int(timeline.GetTrackCount("video") or 0) > keep and timeline.DeleteTrack(
                "video", int(timeline.GetTrackCount("video"))):
            pass

    def tag_item(self, item: Any, color: str) -> None:
        """Colour the item, read back (a colour that does not show is a warning: the restore itself is fine)."""
        if not item.SetClipColor(color) or item.GetClipColor() != color:
            self.warnings.append(f"Resolve did not colour {item.GetName()!r} {color}")

    def tag_media(self, mpi: Any, color: str, job_id: str, settings: dict) -> None:
        """Colour and tag the restored clip, read back (a missing tag is a warning)."""
        tags = {"VividVR Job": job_id, "VividVR Settings": json.dumps(settings, sort_keys=True)}
        for key, value in tags.items():
            mpi.SetThirdPartyMetadata(key, value)
        if not mpi.SetClipColor(color) or mpi.GetClipColor() != color:
            self.warnings.append(f"Resolve did not colour the restored clip {color}")
        if any(mpi.GetThirdPartyMetadata(key) != value for key, value in tags.items()):
            self.warnings.append("Resolve did not keep the job id in the restored clip's metadata")

    # ------------------------------------------------------------------ media pool records (queued clips)

    def pool_clips(self) -> Iterator[Any]:
        """Every clip of every bin."""
        folders = [self.pool.GetRootFolder()]
        while folders:
            folder = folders.pop()
            yield from folder.GetClipList() or []
            folders.extend(folder.GetSubFolderList() or [])

    @staticmethod
    def queued_on_clip(mpi: Any) -> list[dict]:
        try:
            records = json.loads(mpi.GetThirdPartyMetadata("VividVR Queued") or "[]")
        except ValueError:
            return []
        return records if isinstance(records, list) else []

    @staticmethod
    def set_queued_on_clip(mpi: Any, records: list[dict]) -> None:
        mpi.SetThirdPartyMetadata("VividVR Queued", json.dumps(records, sort_keys=True) if records else "")


def _described(shown: tuple[str, int, int, int, int] | None) -> str:
    if shown is None:
        return "frames it reports inconsistently"
    return f"frames {shown[1]}..{shown[2] - 1} at {shown[3]} for {shown[4]} frames"


def tool_attrs(tool: Any) -> tuple[str, str]:
    """(registry id such as "MediaIn" or "Loader", node name) of a Fusion tool."""
    attrs = tool.GetAttrs() or {}
    return attrs.get("TOOLS_RegID", ""), attrs.get("TOOLS_Name", "the node")


def _lua_first(value: Any) -> Any:
    """Fusion hands Lua tables to Python as dicts keyed 1, 2, ...; a plain value stays as it is."""
    return value.get(1) if isinstance(value, dict) else value


LOADER_FRAME = re.compile(r"^(?P<head>.*?)(?P<digits>\d+)(?P<tail>\.[^.\\/]+)$")


def loader_source(tool: Any) -> tuple[str, str]:
    """(media path or sequence pattern, daemon frame range "a-b" or "") of a Loader, from its attributes.

    ASSUMED (not in hosts.md): `TOOLST_Clip_Name` is the file (a sequence's first file) and
    `TOOLIT_Clip_TrimIn`/`TrimOut` count frames from the clip's first frame.
    """
    attrs = tool.GetAttrs() or {}
    path = _lua_first(attrs.get("TOOLST_Clip_Name")) or ""
    trim_in, trim_out = _lua_first(attrs.get("TOOLIT_Clip_TrimIn")), _lua_first(attrs.get("TOOLIT_Clip_TrimOut"))
    numbered = LOADER_FRAME.match(path)
    first = 0
    if numbered is not None and numbered["tail"].lower() not in (".mov", ".mp4", ".mxf", ".avi", ".mkv"):
        path = f"{numbered['head']}{'#' * len(numbered['digits'])}{numbered['tail']}"
        first = int(numbered["digits"])
    if trim_in is None or trim_out is None:
        return path, ""
    return path, f"{first + int(trim_in)}-{first + int(trim_out)}"


def find_resolve(namespace: dict) -> Any:
    """The `resolve` object the documented ways: the script's global, bmd.scriptapp, DaVinciResolveScript.

    Resolve may put its globals in the script's namespace or in builtins; both are looked at.
    """

    def host_global(name: str) -> Any:
        return namespace.get(name) if namespace.get(name) is not None else getattr(builtins, name, None)

    if host_global("resolve") is not None:
        return host_global("resolve")
    bmd = host_global("bmd")
    if bmd is not None:
        found = bmd.scriptapp("Resolve")
        if found is not None:
            return found
    try:
        import DaVinciResolveScript  # type: ignore[import-not-found]
    except ImportError:
        raise HostError("cannot reach DaVinci Resolve: run this from Workspace > Scripts inside Resolve") from None
    found = DaVinciResolveScript.scriptapp("Resolve")
    if found is None:
        raise HostError("DaVinci Resolve refused the connection: run this from Workspace > Scripts inside Resolve")
    return found


# ---------------------------------------------------------------------- UI (UIManager)


@dataclass(frozen=True)
class Field:
    """One row of a form: a widget named `id` of `kind` combo, spin, line or label."""

    id: str
    kind: str
    label: str
    value: Any
    choices: tuple[str, ...] = ()
    maximum: int = 100000


class Form:
    """The widgets of a shown window, read and written by id."""

    def __init__(self, items: Any, fields: list[Field], close: Callable[[], None]) -> None:
        self.items = items
        self.kinds = {f.id: f.kind for f in fields}
        self.close = close

    def value(self, field_id: str) -> Any:
        widget = self.items[field_id]
        kind = self.kinds[field_id]
        if kind == "combo":
            return widget.CurrentText
        if kind == "spin":
            return int(widget.Value)
        return widget.Text

    def set_text(self, field_id: str, text: str) -> None:
        self.items[field_id].Text = text


class Ui:
    """Resolve's UIManager (`fusion.UIManager`, `bmd.UIDispatcher`): one window at a time, and a polling Timer."""

    WINDOW = "VividVRWindow"
    TIMER = "VividVRPoll"

    def __init__(self, manager: Any, dispatcher: Any) -> None:
        self.manager = manager
        self.dispatcher = dispatcher

    def _widget(self, field: Field) -> Any:
        m = self.manager
        if field.kind == "combo":
            return m.ComboBox({"ID": field.id})
        if field.kind == "spin":
            return m.SpinBox({"ID": field.id, "Minimum": 0, "Maximum": field.maximum, "Value": int(field.value)})
        if field.kind == "line":
            return m.LineEdit({"ID": field.id, "Text": str(field.value)})
        return m.Label({"ID": field.id, "Text": str(field.value), "WordWrap": True})

    def run(self, title: str, fields: list[Field], buttons: list[tuple[str, str]],
            handlers: dict[str, Callable[[Form], None]], poll: Callable[[Form], None] | None = None) -> None:
        """Show a window until a handler calls `form.close()`; `poll` runs every 200 ms meanwhile."""
        m = self.manager
        rows = [m.HGroup([m.Label({"Text": f.label, "MinimumSize": [170, 0]}), self._widget(f)]) if f.label
                else self._widget(f) for f in fields]
        rows.append(m.HGroup([m.Button({"ID": button_id, "Text": text}) for button_id, text in buttons]))
        text_lines = sum(str(f.value).count("\n") for f in fields if f.kind == "label")
        geometry = [200, 120, 520, 40 + 34 * len(rows) + 18 * text_lines]
        window = self.dispatcher.AddWindow({"ID": self.WINDOW, "WindowTitle": title, "Geometry": geometry},
                                           [m.VGroup(rows)])
        items = window.GetItems()
        for field in fields:
            if field.kind == "combo":
                items[field.id].AddItems(list(field.choices))
                items[field.id].CurrentIndex = field.choices.index(field.value)
        form = Form(items, fields, self.dispatcher.ExitLoop)
        getattr(window.On, self.WINDOW).Close = lambda event: form.close()
        for button_id, handler in handlers.items():
            getattr(window.On, button_id).Clicked = lambda event, h=handler: h(form)
        timer = None
        if poll is not None:
            timer = m.Timer({"ID": self.TIMER, "Interval": 200})
            getattr(self.dispatcher.On, self.TIMER).Timeout = lambda event: poll(form)
            timer.Start()
        window.Show()
        try:
            self.dispatcher.RunLoop()
        finally:
            if timer is not None:
                timer.Stop()
            window.Hide()

    def tell(self, title: str, lines: list[str]) -> None:
        """Show `lines` until the artist clicks OK: how a refusal or an outcome reaches someone without the Console."""
        self.run(title, [Field("Message", "label", "", "\n".join(lines))], [("OK", "OK")],
                 {"OK": lambda form: form.close()})
