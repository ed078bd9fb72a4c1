"""The modules Vivid-VR adds to CogVideoX 1.5; everything else is upstream diffusers."""

from vividvr_engine.models.control_blocks import Connector, ControlFeatureProjector
from vividvr_engine.models.controlnet import CogVideoXVividVRControlNetModel
from vividvr_engine.models.transformer import VividVRTransformer

__all__ = ["CogVideoXVividVRControlNetModel", "Connector", "ControlFeatureProjector", "VividVRTransformer"]
