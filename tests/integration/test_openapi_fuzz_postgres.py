"""The schemathesis run over the whole document on PostgreSQL (issue 11, item 8), where NUL
characters, integer ranges and the direct submission path differ from SQLite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.integration.conftest import migrated_app
from tests.openapi_fuzz import fuzz_whole_document, report

NAME = "openspc_hardening_fuzz_test"


@pytest.fixture
def app(postgres, tmp_path) -> Iterator:
    with migrated_app(postgres, NAME, tmp_path) as application:
        yield application


def test_every_operation_answers_as_documented_on_postgresql(app):
    tally: Counter = Counter()
    failures = fuzz_whole_document(app, tally)
    print("\n" + report(tally, "PostgreSQL fuzz run"))
    assert not failures, "\n\n".join(failures)
