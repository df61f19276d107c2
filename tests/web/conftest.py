"""Fixtures shared by the web tests."""

from __future__ import annotations

import pytest

from web_support import make_text_dataset


@pytest.fixture(scope="session")
def text_dataset(tmp_path_factory):
    """The ~2,500 GloVe-embedded texts of web_support, built once (no test writes into a dataset)."""
    return make_text_dataset(tmp_path_factory.mktemp("web") / "texts")
