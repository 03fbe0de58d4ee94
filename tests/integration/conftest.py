"""The fault suite's table (docs/faults.md) is collected by hooks that only look at its own tests."""

from tests.faults.report import (  # noqa: F401 - pytest finds fixtures and hooks by name here
    outcome,
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_sessionfinish,
)
