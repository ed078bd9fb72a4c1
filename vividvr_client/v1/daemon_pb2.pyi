from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_COMPLETED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class ErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_CODE_UNSPECIFIED: _ClassVar[ErrorCode]
    ERROR_CODE_MEDIA: _ClassVar[ErrorCode]
    ERROR_CODE_SETTINGS: _ClassVar[ErrorCode]
    ERROR_CODE_CHECKPOINT: _ClassVar[ErrorCode]
    ERROR_CODE_OUT_OF_MEMORY: _ClassVar[ErrorCode]
    ERROR_CODE_INTERNAL: _ClassVar[ErrorCode]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_COMPLETED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
ERROR_CODE_UNSPECIFIED: ErrorCode
ERROR_CODE_MEDIA: ErrorCode
ERROR_CODE_SETTINGS: ErrorCode
ERROR_CODE_CHECKPOINT: ErrorCode
ERROR_CODE_OUT_OF_MEMORY: ErrorCode
ERROR_CODE_INTERNAL: ErrorCode

class Source(_message.Message):
    __slots__ = ("otio_clip_json", "media_path", "frames", "handle_frames_before", "handle_frames_after")
    OTIO_CLIP_JSON_FIELD_NUMBER: _ClassVar[int]
    MEDIA_PATH_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FRAMES_BEFORE_FIELD_NUMBER: _ClassVar[int]
    HANDLE_FRAMES_AFTER_FIELD_NUMBER: _ClassVar[int]
    otio_clip_json: str
    media_path: str
    frames: str
    handle_frames_before: int
    handle_frames_after: int
    def __init__(self, otio_clip_json: _Optional[str] = ..., media_path: _Optional[str] = ..., frames: _Optional[str] = ..., handle_frames_before: _Optional[int] = ..., handle_frames_after: _Optional[int] = ...) -> None: ...

class OutputSpec(_message.Message):
    __slots__ = ("directory", "name_template", "format", "overwrite", "ten_bit")
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    NAME_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    TEN_BIT_FIELD_NUMBER: _ClassVar[int]
    directory: str
    name_template: str
    format: str
    overwrite: bool
    ten_bit: bool
    def __init__(self, directory: _Optional[str] = ..., name_template: _Optional[str] = ..., format: _Optional[str] = ..., overwrite: _Optional[bool] = ..., ten_bit: _Optional[bool] = ...) -> None: ...

class EngineSettings(_message.Message):
    __slots__ = ("engine", "num_inference_steps", "guidance_scale", "restoration_guidance_scale", "upscale", "short_side", "tile_size", "num_temporal_process_frames", "seed", "caption", "color_fix", "textfix", "offload")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    NUM_INFERENCE_STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    RESTORATION_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    UPSCALE_FIELD_NUMBER: _ClassVar[int]
    SHORT_SIDE_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    NUM_TEMPORAL_PROCESS_FRAMES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIX_FIELD_NUMBER: _ClassVar[int]
    TEXTFIX_FIELD_NUMBER: _ClassVar[int]
    OFFLOAD_FIELD_NUMBER: _ClassVar[int]
    engine: str
    num_inference_steps: int
    guidance_scale: float
    restoration_guidance_scale: float
    upscale: float
    short_side: int
    tile_size: int
    num_temporal_process_frames: int
    seed: int
    caption: str
    color_fix: str
    textfix: bool
    offload: str
    def __init__(self, engine: _Optional[str] = ..., num_inference_steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., restoration_guidance_scale: _Optional[float] = ..., upscale: _Optional[float] = ..., short_side: _Optional[int] = ..., tile_size: _Optional[int] = ..., num_temporal_process_frames: _Optional[int] = ..., seed: _Optional[int] = ..., caption: _Optional[str] = ..., color_fix: _Optional[str] = ..., textfix: _Optional[bool] = ..., offload: _Optional[str] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ("source", "output", "settings", "priority", "cancel_on_disconnect", "label")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ON_DISCONNECT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    source: Source
    output: OutputSpec
    settings: EngineSettings
    priority: int
    cancel_on_disconnect: bool
    label: str
    def __init__(self, source: _Optional[_Union[Source, _Mapping]] = ..., output: _Optional[_Union[OutputSpec, _Mapping]] = ..., settings: _Optional[_Union[EngineSettings, _Mapping]] = ..., priority: _Optional[int] = ..., cancel_on_disconnect: _Optional[bool] = ..., label: _Optional[str] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job_id", "queue_position")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    queue_position: int
    def __init__(self, job_id: _Optional[str] = ..., queue_position: _Optional[int] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id", "after_seq")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    after_seq: int
    def __init__(self, job_id: _Optional[str] = ..., after_seq: _Optional[int] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "limit")
    STATES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    limit: int
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetServerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Job(_message.Message):
    __slots__ = ("id", "state", "label", "priority", "request", "created_time", "started_time", "finished_time", "queue_position", "device", "first_frame", "last_frame", "output_path", "last_seq", "progress", "completed", "failed")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_FIELD_NUMBER: _ClassVar[int]
    STARTED_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISHED_TIME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_POSITION_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PATH_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: JobState
    label: str
    priority: int
    request: RestoreRequest
    created_time: float
    started_time: float
    finished_time: float
    queue_position: int
    device: str
    first_frame: int
    last_frame: int
    output_path: str
    last_seq: int
    progress: Progress
    completed: Completed
    failed: Failed
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., label: _Optional[str] = ..., priority: _Optional[int] = ..., request: _Optional[_Union[RestoreRequest, _Mapping]] = ..., created_time: _Optional[float] = ..., started_time: _Optional[float] = ..., finished_time: _Optional[float] = ..., queue_position: _Optional[int] = ..., device: _Optional[str] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., output_path: _Optional[str] = ..., last_seq: _Optional[int] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ..., failed: _Optional[_Union[Failed, _Mapping]] = ...) -> None: ...

class Queued(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class Started(_message.Message):
    __slots__ = ("device", "resumed", "first_frame", "last_frame")
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    device: str
    resumed: bool
    first_frame: int
    last_frame: int
    def __init__(self, device: _Optional[str] = ..., resumed: _Optional[bool] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("phase", "window", "windows", "step", "steps", "frames_done", "frames_total", "fraction", "eta_seconds")
    PHASE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRACTION_FIELD_NUMBER: _ClassVar[int]
    ETA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    phase: str
    window: int
    windows: int
    step: int
    steps: int
    frames_done: int
    frames_total: int
    fraction: float
    eta_seconds: float
    def __init__(self, phase: _Optional[str] = ..., window: _Optional[int] = ..., windows: _Optional[int] = ..., step: _Optional[int] = ..., steps: _Optional[int] = ..., frames_done: _Optional[int] = ..., frames_total: _Optional[int] = ..., fraction: _Optional[float] = ..., eta_seconds: _Optional[float] = ...) -> None: ...

class SegmentWritten(_message.Message):
    __slots__ = ("first_frame", "last_frame", "staged_paths")
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    STAGED_PATHS_FIELD_NUMBER: _ClassVar[int]
    first_frame: int
    last_frame: int
    staged_paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., staged_paths: _Optional[_Iterable[str]] = ...) -> None: ...

class Warning(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class Completed(_message.Message):
    __slots__ = ("otio_clip_json", "paths", "first_frame", "last_frame", "width", "height", "seconds")
    OTIO_CLIP_JSON_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    otio_clip_json: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    first_frame: int
    last_frame: int
    width: int
    height: int
    seconds: float
    def __init__(self, otio_clip_json: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., first_frame: _Optional[int] = ..., last_frame: _Optional[int] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., seconds: _Optional[float] = ...) -> None: ...

class Failed(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: ErrorCode
    message: str
    def __init__(self, code: _Optional[_Union[ErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class Cancelled(_message.Message):
    __slots__ = ("message",)
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    message: str
    def __init__(self, message: _Optional[str] = ...) -> None: ...

class RestoreEvent(_message.Message):
    __slots__ = ("job_id", "seq", "time", "queued", "started", "progress", "segment_written", "warning", "completed", "failed", "cancelled")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    seq: int
    time: float
    queued: Queued
    started: Started
    progress: Progress
    segment_written: SegmentWritten
    warning: Warning
    completed: Completed
    failed: Failed
    cancelled: Cancelled
    def __init__(self, job_id: _Optional[str] = ..., seq: _Optional[int] = ..., time: _Optional[float] = ..., queued: _Optional[_Union[Queued, _Mapping]] = ..., started: _Optional[_Union[Started, _Mapping]] = ..., progress: _Optional[_Union[Progress, _Mapping]] = ..., segment_written: _Optional[_Union[SegmentWritten, _Mapping]] = ..., warning: _Optional[_Union[Warning, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ..., failed: _Optional[_Union[Failed, _Mapping]] = ..., cancelled: _Optional[_Union[Cancelled, _Mapping]] = ...) -> None: ...

class ServerStatus(_message.Message):
    __slots__ = ("version", "devices", "loaded_models", "host_memory_total_bytes", "host_memory_available_bytes", "jobs_queued", "jobs_running", "data_dir", "uptime_seconds")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    LOADED_MODELS_FIELD_NUMBER: _ClassVar[int]
    HOST_MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    HOST_MEMORY_AVAILABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    JOBS_QUEUED_FIELD_NUMBER: _ClassVar[int]
    JOBS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    version: str
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    loaded_models: _containers.RepeatedCompositeFieldContainer[LoadedModel]
    host_memory_total_bytes: int
    host_memory_available_bytes: int
    jobs_queued: int
    jobs_running: int
    data_dir: str
    uptime_seconds: float
    def __init__(self, version: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., loaded_models: _Optional[_Iterable[_Union[LoadedModel, _Mapping]]] = ..., host_memory_total_bytes: _Optional[int] = ..., host_memory_available_bytes: _Optional[int] = ..., jobs_queued: _Optional[int] = ..., jobs_running: _Optional[int] = ..., data_dir: _Optional[str] = ..., uptime_seconds: _Optional[float] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("name", "description", "memory_total_bytes", "memory_free_bytes", "running_job_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOB_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    memory_total_bytes: int
    memory_free_bytes: int
    running_job_id: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., memory_total_bytes: _Optional[int] = ..., memory_free_bytes: _Optional[int] = ..., running_job_id: _Optional[str] = ...) -> None: ...

class LoadedModel(_message.Message):
    __slots__ = ("engine", "device", "idle_seconds")
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    engine: str
    device: str
    idle_seconds: float
    def __init__(self, engine: _Optional[str] = ..., device: _Optional[str] = ..., idle_seconds: _Optional[float] = ...) -> None: ...
