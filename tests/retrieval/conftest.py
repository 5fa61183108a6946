from pathlib import Path

import pytest

from copilot.retrieval.embeddings import MiniLMEmbedder


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def embedder(model_cache: Path) -> MiniLMEmbedder:
    """Built once per test session into a temporary cache (the ONNX graph takes ~3 s to write)."""
    return MiniLMEmbedder.shared(model_cache)
