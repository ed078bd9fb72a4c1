"""A fake DaVinci Resolve scripting API, written from ../shared/design/hosts.md, traps included.

Documented behaviour (BMD README) and measured traps (LEDGER) that this fake makes real:
- The Python bridge fabricates a callable for ANY attribute name (calling it answers None), so
  `hasattr` proves nothing; `dir()` lists only the real methods.
- `Timeline.GetSelectedClips` exists only on newer releases (`version >= (21, 0, 4)`).
- `AppendToTimeline`: `endFrame` is exclusive; an item overlapping an existing one on its track is
  silently dropped (absent from the returned list, nothing raised).
- `ImportMedia` puts clips in the *current* folder; image sequences come in only as
  {"FilePath": "name.%04d.exr", "StartIndex": a, "EndIndex": b}.
- Source frames are timecode-absolute (media at 01:00:00:00, 24 fps, starts at 86400), counted
  at the clip's own rate; `GetSourceEndFrame` is exclusive when the clip's rate equals the
  timeline's and inclusive when they differ.
- `SetClipColor` accepts only the 16 documented names.

Where hosts.md is silent this fake has to assume, and says so (the plugin's adapter makes the
same assumption in one place, so a correction is one line there and one here):
- ASSUMED: `AppendToTimeline` and `AddTake` count `startFrame`/`endFrame` from the clip's first
  frame (0-based), `endFrame` exclusive for both; `recordFrame` is an absolute timeline frame.
- ASSUMED: a clip of another rate plays at real speed: timeline frames = media frames x
  timeline rate / clip rate, rounded.
- ASSUMED: an image sequence's "File Path" reads `dir/name.[1001-1040].exr`; without embedded
  timecode its "Start TC" labels its first file number.
- ASSUMED: a selected take replaces what the item shows and what `GetMediaPoolItem` returns.

Everything the tests need that is not API (building the project, selecting, moving the
playhead) is a `fake_*` method, so it cannot be mistaken for Resolve's.
"""

from __future__ import annotations

import itertools
import os
from fractions import Fraction
from typing import Any

from vividvr_client.timecode import format_timecode, parse_timecode
from vividvr_engine.media.sequence import parse_pattern
from vividvr_engine.restore_job import probe

CLIP_COLORS = ("Orange", "Apricot", "Yellow", "Lime", "Olive", "Green", "Teal", "Navy", "Blue", "Purple", "Violet",
               "Pink", "Tan", "Beige", "Brown", "Chocolate")
MARKER_COLORS = ("Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender", "Sky",
                 "Mint", "Lemon", "Sand", "Cocoa", "Cream")
MOVIE_EXTENSIONS = (".mov", ".mp4", ".mxf", ".avi", ".mkv")
_ids = itertools.count(1)


def rate_label(rate: Fraction) -> str:
    """How Resolve prints a rate: "23.976", "24", "29.97"."""
    return f"{float(rate):.3f}".rstrip("0").rstrip(".") if rate.denominator != 1 else str(rate.numerator)


class Bridge:
    """Resolve's Python bridge: unknown attributes are callables answering None; dir() lists real methods."""

    hidden: frozenset[str] = frozenset()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name.startswith("fake_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None

    def __dir__(self) -> list[str]:
        return [n for n in dir(type(self)) if n[:1].isupper() and n not in self._hidden_methods()]

    def _hidden_methods(self) -> frozenset[str]:
        return self.hidden

    def __getattribute__(self, name: str) -> Any:
        if name[:1].isupper() and name in object.__getattribute__(self, "_hidden_methods")():
            return Bridge.__getattr__(self, name)
        return object.__getattribute__(self, name)


class FakeResolve(Bridge):
    EXPORT_OTIO = 17  # an enum value: the plugin must read it from the live object
    EXPORT_NONE = 0

    def __init__(self, version: tuple[int, int, int] = (21, 0, 4), timeline_rate: Fraction = Fraction(24)) -> None:
        self.version = version
        self.project = FakeProject(self, timeline_rate)
        self.changes = 0  # every successful mutating call adds one: "nothing changed" is checkable

    def fake_changed(self) -> None:
        self.changes += 1

    def GetProductName(self) -> str:
        return "DaVinci Resolve Studio"

    def GetVersionString(self) -> str:
        return ".".join(map(str, self.version))

    def GetProjectManager(self) -> FakeProjectManager:
        return FakeProjectManager(self.project)


class FakeProjectManager(Bridge):
    def __init__(self, project: FakeProject) -> None:
        self._project = project

    def GetCurrentProject(self) -> FakeProject:
        return self._project


class FakeProject(Bridge):
    def __init__(self, resolve: FakeResolve, timeline_rate: Fraction) -> None:
        self.resolve = resolve
        self.rate = timeline_rate
        self.pool = FakeMediaPool(self)
        self.timelines: list[FakeTimeline] = []
        self.current: FakeTimeline | None = None

    def GetName(self) -> str:
        return "VividVR test project"

    def GetMediaPool(self) -> FakeMediaPool:
        return self.pool

    def GetCurrentTimeline(self) -> FakeTimeline | None:
        return self.current

    def GetTimelineCount(self) -> int:
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int) -> FakeTimeline | None:
        return self.timelines[index - 1] if 1 <= index <= len(self.timelines) else None

    def SetCurrentTimeline(self, timeline: FakeTimeline) -> bool:
        self.current = timeline
        return True

    def GetSetting(self, name: str = "") -> str | None:
        return rate_label(self.rate) if name == "timelineFrameRate" else None


class FakeFolder(Bridge):
    def __init__(self, name: str) -> None:
        self.name = name
        self.clips: list[FakeMediaPoolItem] = []
        self.folders: list[FakeFolder] = []
        self.id = f"folder-{next(_ids)}"

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.id

    def GetClipList(self) -> list[FakeMediaPoolItem]:
        return list(self.clips)

    def GetSubFolderList(self) -> list[FakeFolder]:
        return list(self.folders)


class FakeMediaPool(Bridge):
    def __init__(self, project: FakeProject) -> None:
        self.project = project
        self.root = FakeFolder("Master")
        self.current = self.root
        self.selected: list[FakeMediaPoolItem] = []

    def GetRootFolder(self) -> FakeFolder:
        return self.root

    def GetCurrentFolder(self) -> FakeFolder:
        return self.current

    def SetCurrentFolder(self, folder: FakeFolder) -> bool:
        self.current = folder
        return True

    def AddSubFolder(self, parent: FakeFolder, name: str) -> FakeFolder:
        folder = FakeFolder(name)
        parent.folders.append(folder)
        self.project.resolve.fake_changed()
        return folder

    def GetSelectedClips(self) -> list[FakeMediaPoolItem]:
        return list(self.selected)

    def SetSelectedClip(self, item: FakeMediaPoolItem) -> bool:
        self.selected = [item]
        return True

    def ImportMedia(self, items: list) -> list[FakeMediaPoolItem]:
        """Into the current folder: a dict is an image sequence, a path a movie (one sequence file is skipped)."""
        imported = []
        for entry in items:
            if isinstance(entry, dict):
                item = FakeMediaPoolItem.sequence(entry["FilePath"], entry["StartIndex"], entry["EndIndex"],
                                                  self.project.rate)
            elif os.path.isfile(entry) and os.path.splitext(entry)[1].lower() in MOVIE_EXTENSIONS:
                item = FakeMediaPoolItem.movie(entry)
            else:
                continue
            self.current.clips.append(item)
            imported.append(item)
        if imported:
            self.project.resolve.fake_changed()
        return imported

    def CreateEmptyTimeline(self, name: str) -> FakeTimeline:
        timeline = FakeTimeline(self.project, name)
        self.project.timelines.append(timeline)
        self.project.current = self.project.current or timeline
        return timeline

    def AppendToTimeline(self, infos: list) -> list[FakeTimelineItem]:
        timeline = self.project.current
        placed = []
        for info in infos:
            if not isinstance(info, dict) or timeline is None or info.get("mediaType", 1) != 1:
                continue
            mpi = info["mediaPoolItem"]
            start, end = int(info["startFrame"]), int(info["endFrame"])  # endFrame exclusive
            if not 0 <= start < end <= mpi.frames:
                continue
            track = int(info.get("trackIndex", 1))
            record = int(info.get("recordFrame", timeline.fake_track_end(track)))
            item = FakeTimelineItem(timeline, mpi, start, end - start, record, track)
            if track > timeline.GetTrackCount("video") or timeline.fake_overlaps(track, item.start, item.end):
                continue  # silently dropped (LEDGER)
            timeline.tracks[track - 1].append(item)
            placed.append(item)
        if placed:
            self.project.resolve.fake_changed()
        return placed


class FakeMediaPoolItem(Bridge):
    def __init__(self, properties: dict[str, str], frames: int, rate: Fraction, start_tc: str) -> None:
        self.properties = properties
        self.frames = frames
        self.rate = rate
        self.start_tc = start_tc
        self.id = f"mpi-{next(_ids)}"
        self.metadata: dict[str, str] = {}
        self.third_party: dict[str, str] = {}
        self.color = ""

    @classmethod
    def movie(cls, path: str) -> FakeMediaPoolItem:
        info = probe(path)
        frames = info.last_frame - info.first_frame + 1
        start_tc = info.start_timecode or "00:00:00:00"
        return cls._with_properties(os.path.basename(path), path, "Video", frames, info.fps, start_tc, info)

    @classmethod
    def sequence(cls, pattern: str, first: int, last: int, project_rate: Fraction) -> FakeMediaPoolItem:
        info = probe(pattern)
        rate = project_rate  # a sequence plays at the project rate unless its clip attributes say otherwise
        start_tc = info.start_timecode or format_timecode(first, rate)
        parsed = parse_pattern(pattern)
        name = f"{parsed.prefix}[{first}-{last}]{parsed.suffix}"
        return cls._with_properties(name, os.path.join(parsed.directory, name), "Video", last - first + 1, rate,
                                    start_tc, info)

    @classmethod
    def _with_properties(cls, name: str, path: str, kind: str, frames: int, rate: Fraction, start_tc: str,
                         info: Any) -> FakeMediaPoolItem:
        end_tc = format_timecode(parse_timecode(start_tc, rate) + frames - 1, rate)
        properties = {"Clip Name": name, "File Name": os.path.basename(path), "File Path": path,
                      "Frames": str(frames), "FPS": rate_label(rate), "Start TC": start_tc, "End TC": end_tc,
                      "Resolution": f"{info.width}x{info.height}", "Type": kind, "Video Codec": ""}
        return cls(properties, frames, rate, start_tc)

    @classmethod
    def fake_other(cls, name: str, kind: str, frames: int = 48, rate: Fraction = Fraction(24)) -> FakeMediaPoolItem:
        """Audio, Compound, Generator...: media the plugin must refuse."""
        properties = {"Clip Name": name, "File Path": "" if kind != "Audio" else f"/media/{name}.wav",
                      "Frames": str(frames), "FPS": rate_label(rate), "Start TC": "00:00:00:00", "Type": kind}
        return cls(properties, frames, rate, "00:00:00:00")

    def GetName(self) -> str:
        return self.properties["Clip Name"]

    def GetUniqueId(self) -> str:
        return self.id

    def GetClipProperty(self, key: str | None = None) -> Any:
        return dict(self.properties) if key is None else self.properties.get(key, "")

    def GetMetadata(self, key: str | None = None) -> Any:
        return dict(self.metadata) if key is None else self.metadata.get(key, "")

    def SetMetadata(self, key: str, value: str) -> bool:
        self.metadata[key] = value
        return True

    def SetThirdPartyMetadata(self, key: str, value: str) -> bool:
        self.third_party[key] = value
        return True

    def GetThirdPartyMetadata(self, key: str | None = None) -> Any:
        return dict(self.third_party) if key is None else self.third_party.get(key, "")

    def SetClipColor(self, name: str) -> bool:
        if name not in CLIP_COLORS:
            return False
        self.color = name
        return True

    def GetClipColor(self) -> str:
        return self.color


class FakeTimeline(Bridge):
    def __init__(self, project: FakeProject, name: str, start_frame: int = 86400) -> None:
        self.project = project
        self.name = name
        self.start_frame = start_frame
        self.tracks: list[list[FakeTimelineItem]] = [[]]
        self.playhead = start_frame
        self.selection: list[FakeTimelineItem] = []
        self.id = f"timeline-{next(_ids)}"

    def _hidden_methods(self) -> frozenset[str]:
        return frozenset() if self.project.resolve.version >= (21, 0, 4) else frozenset({"GetSelectedClips"})

    @property
    def rate(self) -> Fraction:
        return self.project.rate

    # -- test-only helpers
    def fake_track_end(self, track: int) -> int:
        items = self.tracks[track - 1] if track <= len(self.tracks) else []
        return max((i.end for i in items), default=self.start_frame)

    def fake_overlaps(self, track: int, start: int, end: int) -> bool:
        return any(i.start < end and start < i.end for i in self.tracks[track - 1])

    def fake_select(self, *items: FakeTimelineItem) -> None:
        self.selection = list(items)

    def fake_place(self, mpi: FakeMediaPoolItem, start: int, count: int, record: int,
                   track: int = 1) -> FakeTimelineItem:
        """Put `count` media frames from 0-based `start` at `record`, as an editor would (must not be dropped)."""
        while track > len(self.tracks):
            self.tracks.append([])
        placed = self.project.pool.AppendToTimeline([{"mediaPoolItem": mpi, "startFrame": start,
                                                      "endFrame": start + count, "recordFrame": record,
                                                      "trackIndex": track, "mediaType": 1}])
        assert placed, "the test timeline overlaps itself"
        return placed[0]

    def fake_add_item(self, item: FakeTimelineItem, track: int = 1) -> FakeTimelineItem:
        """A generator, title or other item that has no media pool clip."""
        while track > len(self.tracks):
            self.tracks.append([])
        item.track = track
        self.tracks[track - 1].append(item)
        return item

    # -- API
    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.id

    def GetSetting(self, name: str = "") -> str | None:
        return self.project.GetSetting(name)

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetTrackCount(self, track_type: str) -> int:
        return len(self.tracks) if track_type == "video" else 0

    def AddTrack(self, track_type: str, *args: Any) -> bool:
        if track_type != "video":
            return False
        self.tracks.append([])
        self.project.resolve.fake_changed()
        return True

    def GetItemListInTrack(self, track_type: str, index: int) -> list[FakeTimelineItem] | None:
        if track_type != "video" or not 1 <= index <= len(self.tracks):
            return None
        return sorted(self.tracks[index - 1], key=lambda i: i.start)

    def GetCurrentVideoItem(self) -> FakeTimelineItem | None:
        under = [i for track in self.tracks for i in track if i.start <= self.playhead < i.end]
        return max(under, key=lambda i: i.track) if under else None

    def GetSelectedClips(self) -> list[FakeTimelineItem]:
        return list(self.selection)

    def GetCurrentTimecode(self) -> str:
        return format_timecode(self.playhead, self.rate)

    def SetCurrentTimecode(self, timecode: str) -> bool:
        self.playhead = parse_timecode(timecode, self.rate)
        return True


class FakeTimelineItem(Bridge):
    def __init__(self, timeline: FakeTimeline, mpi: FakeMediaPoolItem | None, media_start: int, media_count: int,
                 record: int, track: int, name: str = "", duration: int | None = None) -> None:
        self.timeline = timeline
        self.mpi = mpi
        self.media_start = media_start  # 0-based index of the first media frame shown
        self.media_count = media_count
        self.start = record
        self.duration = duration if duration is not None else self._timeline_frames(media_count)
        self.track = track
        self.name = name or (mpi.GetName() if mpi else "")
        self.id = f"item-{next(_ids)}"
        self.color = ""
        self.markers: dict[int, dict] = {}
        self.takes: list[dict] = []
        self.selected_take = 0

    @classmethod
    def fake_generator(cls, timeline: FakeTimeline, name: str, record: int, duration: int) -> FakeTimelineItem:
        return cls(timeline, None, 0, duration, record, 1, name=name, duration=duration)

    def _timeline_frames(self, media_frames: int) -> int:
        if self.mpi is None:
            return media_frames
        return round(media_frames * self.timeline.rate / self.mpi.rate)

    def _same_rate(self) -> bool:
        return self.mpi is not None and self.mpi.rate == self.timeline.rate

    @property
    def end(self) -> int:
        return self.start + self.duration

    def _source_base(self) -> int:
        assert self.mpi is not None
        return parse_timecode(self.mpi.start_tc, self.mpi.rate)  # timecode-absolute (LEDGER)

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.id

    def GetMediaPoolItem(self) -> FakeMediaPoolItem | None:
        return self.mpi

    def GetStart(self, subframe: bool = False) -> int:
        return self.start

    def GetEnd(self, subframe: bool = False) -> int:
        return self.end

    def GetDuration(self, subframe: bool = False) -> int:
        return self.duration

    def GetLeftOffset(self, subframe: bool = False) -> int:
        return self.media_start if self.mpi else 0

    def GetRightOffset(self, subframe: bool = False) -> int:
        return self.mpi.frames - self.media_start - self.media_count if self.mpi else 0

    def GetSourceStartFrame(self) -> int | None:
        return self._source_base() + self.media_start if self.mpi else None

    def GetSourceEndFrame(self) -> int | None:
        if self.mpi is None:
            return None
        exclusive = self._source_base() + self.media_start + self.media_count
        return exclusive if self._same_rate() else exclusive - 1  # inclusive when rates differ (LEDGER)

    def GetTrackTypeAndIndex(self) -> list:
        return ["video", self.track]

    def SetClipColor(self, name: str) -> bool:
        if name not in CLIP_COLORS:
            return False
        self.color = name
        self.timeline.project.resolve.fake_changed()
        return True

    def GetClipColor(self) -> str:
        return self.color

    def AddMarker(self, frame: int, color: str, name: str, note: str, duration: int, custom_data: str = "") -> bool:
        if color not in MARKER_COLORS or frame in self.markers or not 0 <= frame < self.duration:
            return False
        self.markers[frame] = {"color": color, "duration": duration, "note": note, "name": name,
                               "customData": custom_data}
        self.timeline.project.resolve.fake_changed()
        return True

    def GetMarkers(self) -> dict[int, dict]:
        return {frame: dict(marker) for frame, marker in self.markers.items()}

    def DeleteMarkerAtFrame(self, frame: int) -> bool:
        if self.markers.pop(frame, None) is None:
            return False
        self.timeline.project.resolve.fake_changed()
        return True

    def AddTake(self, mpi: FakeMediaPoolItem, start: int | None = None, end: int | None = None) -> bool:
        start = 0 if start is None else int(start)
        end = mpi.frames if end is None else int(end)  # exclusive (ASSUMED, as AppendToTimeline)
        if self.mpi is None or not 0 <= start < end <= mpi.frames:
            return False
        if not self.takes:  # the selector starts with the item's own media as take 1
            self.takes.append({"mediaPoolItem": self.mpi, "startFrame": self.media_start,
                               "endFrame": self.media_start + self.media_count})
            self.selected_take = 1
        self.takes.append({"mediaPoolItem": mpi, "startFrame": start, "endFrame": end})
        self.timeline.project.resolve.fake_changed()
        return True

    def GetTakesCount(self) -> int:
        return len(self.takes)

    def GetTakeByIndex(self, index: int) -> dict | None:
        return dict(self.takes[index - 1]) if 1 <= index <= len(self.takes) else None

    def GetSelectedTakeIndex(self) -> int:
        return self.selected_take

    def SelectTakeByIndex(self, index: int) -> bool:
        if not 1 <= index <= len(self.takes):
            return False
        take = self.takes[index - 1]
        self.selected_take = index
        self.mpi, self.media_start = take["mediaPoolItem"], take["startFrame"]
        self.media_count = take["endFrame"] - take["startFrame"]
        self.timeline.project.resolve.fake_changed()
        return True


# ---------------------------------------------------------------------- UIManager (fusion.UIManager)


class FakeWidget:
    """A UIManager widget: its properties are attributes; a ComboBox's CurrentIndex sets CurrentText."""

    def __init__(self, kind: str, props: Any) -> None:
        self.kind = kind
        self.children: list[FakeWidget] = props if isinstance(props, list) else []
        self.items: list[str] = []
        for key, value in (props.items() if isinstance(props, dict) else ()):
            setattr(self, key, value)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name == "CurrentIndex":
            object.__setattr__(self, "CurrentText", self.items[value])

    def AddItems(self, items: list[str]) -> None:
        self.items.extend(items)

    def Start(self) -> None:
        self.running = True

    def Stop(self) -> None:
        self.running = False


class FakeUIManager:
    """fusion.UIManager with the widgets hosts.md lists (Label, Button, CheckBox, ComboBox, SpinBox, LineEdit...)."""

    WIDGETS = ("Label", "Button", "CheckBox", "ComboBox", "SpinBox", "LineEdit", "HGroup", "VGroup", "Timer")

    def __init__(self) -> None:
        self.timers: list[FakeWidget] = []

    def __getattr__(self, name: str) -> Any:
        if name not in FakeUIManager.WIDGETS:
            raise AttributeError(name)

        def make(props: Any) -> FakeWidget:
            widget = FakeWidget(name, props)
            if name == "Timer":
                self.timers.append(widget)
            return widget

        return make


class FakeEvents:
    """`window.On.<ID>.<Event> = handler`: namespaces made on first use."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        namespace = FakeEvents()
        object.__setattr__(self, name, namespace)
        return namespace


class FakeWindow:
    def __init__(self, props: dict, root: FakeWidget) -> None:
        self.props = props
        self.root = root
        self.On = FakeEvents()
        self.visible = False

    def GetItems(self) -> dict[str, FakeWidget]:
        found, stack = {}, [self.root]
        while stack:
            widget = stack.pop()
            if getattr(widget, "ID", None):
                found[widget.ID] = widget
            stack.extend(widget.children)
        return found

    def Show(self) -> None:
        self.visible = True

    def Hide(self) -> None:
        self.visible = False

    def fake_click(self, button_id: str) -> None:
        getattr(self.On, button_id).Clicked({"who": button_id})


class FakeDispatcher:
    """bmd.UIDispatcher: RunLoop hands each shown window to the test's `actor`, fires running timers."""

    def __init__(self, manager: FakeUIManager, actors: list) -> None:
        self.manager = manager
        self.On = FakeEvents()
        self.windows: list[FakeWindow] = []
        self.actors = actors  # one callable per window, in the order windows are shown: the person
        self.running = False

    def AddWindow(self, props: dict, root: FakeWidget) -> FakeWindow:
        window = FakeWindow(props, root)
        self.windows.append(window)
        return window

    def RunLoop(self) -> None:
        import time

        window = self.windows[-1]
        actor = self.actors.pop(0) if self.actors else None
        self.running = True
        deadline = time.monotonic() + 120
        while self.running and time.monotonic() < deadline:
            if actor is not None:
                actor(window)
                actor = None
            for timer in self.manager.timers:
                if getattr(timer, "running", False):
                    getattr(self.On, timer.ID).Timeout({"who": timer.ID})
            time.sleep(0.01)
        assert not self.running, "the window never closed"

    def ExitLoop(self) -> None:
        self.running = False


class FakeBmd:
    """The `bmd` global: UIDispatcher for the UI, scriptapp for finding Resolve."""

    def __init__(self, resolve: FakeResolve | None = None, actors: list | None = None) -> None:
        self.resolve = resolve
        self.actors = actors or []

    def UIDispatcher(self, manager: FakeUIManager) -> FakeDispatcher:
        self.dispatcher = FakeDispatcher(manager, self.actors)
        return self.dispatcher

    def scriptapp(self, name: str) -> Any:
        return self.resolve if name == "Resolve" else None


class FakeFusion:
    def __init__(self) -> None:
        self.UIManager = FakeUIManager()
