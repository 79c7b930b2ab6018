"""The schemathesis run over the whole document on SQLite (issue 11, item 8); the same run on
PostgreSQL is tests/integration/test_openapi_fuzz_postgres.py."""

from __future__ import annotations

from collections import Counter

from tests.openapi_fuzz import fuzz_whole_document, report


def test_every_operation_answers_as_documented(app):
    tally: Counter = Counter()
    failures = fuzz_whole_document(app, tally)
    print("\n" + report(tally, "SQLite fuzz run"))
    assert not failures, "\n\n".join(failures)
