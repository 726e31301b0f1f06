"""The error tree's own promises: default messages true for every scheduler, classes kept by stored items."""

from __future__ import annotations

import pytest

from ee_retry import errors


def test_the_default_scheduler_unavailable_message_promises_nothing_a_scheduler_may_not_do() -> None:
    """On HTCondor reconcile rolls an unanswered request back, so no default may promise a submission."""
    message = errors.SchedulerUnavailable().message
    assert "submitted" not in message
    assert "Nothing was lost" not in message


@pytest.mark.parametrize("cls", errors.ALL_ERRORS, ids=lambda c: c.__name__)
def test_a_stored_item_error_comes_back_as_its_own_class(cls: type[errors.EERetryError]) -> None:
    item = {"job_id": "x", **errors.item_error(cls("refused"))}
    back = errors.error_of_item(item)
    assert type(back) is cls
    assert back.message == "refused"


def test_an_item_stored_before_classes_were_kept_is_read_by_its_code() -> None:
    back = errors.error_of_item({"job_id": "x", "error": "in flight", "code": errors.RetryInFlight.code})
    assert type(back) is errors.RetryInFlight
    assert errors.error_of_item({"job_id": "x", "retry_id": "y"}) is None
