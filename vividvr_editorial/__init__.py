"""Editorial: read an edit, relink its media, plan the restores it needs, conform the result.

OpenTimelineIO and its maintained adapter plugins do all the parsing; this package only adds the
restoration arithmetic on top. Plans are plain dataclasses, so the CLI, the farm bundle and the
benchmarks share them.
"""
