"""mmhay: multimodal needle-in-a-haystack data and video-LLM evaluation.

``import mmhay`` stays light: torch, transformers, datasets and PyAV load only where used.
"""

from mmhay.errors import ConfigError, DatasetError, MediaError, MmhayError, ModelError

__version__ = "0.1.0"

__all__ = ["__version__", "MmhayError", "ConfigError", "MediaError", "ModelError", "DatasetError"]
