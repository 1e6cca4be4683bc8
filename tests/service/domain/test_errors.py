"""The store's errors are translated in one place (``errors.from_store``), their
cause chained; what the table does not name passes unchanged."""

from __future__ import annotations

import pytest

from testimony.service.domain import errors
from testimony.service.store import errors as store_errors


@pytest.mark.parametrize(
    ("raised", "expected", "code"),
    [
        (store_errors.UploadNotFound(), errors.UploadNotFound, "upload-not-found"),
        (store_errors.UploadBusy(), errors.UploadBusy, "upload-busy"),
        (
            store_errors.UploadOffsetMismatch(),
            errors.UploadOffsetMismatch,
            "upload-offset-mismatch",
        ),
        (store_errors.UploadQuotaExceeded(), errors.UploadQuotaExceeded, "upload-quota-exceeded"),
        (store_errors.BatcherClosed(), errors.Unavailable, "unavailable"),
    ],
)
def test_a_store_error_becomes_the_domain_s_with_its_cause(
    raised: store_errors.StoreError, expected: type[errors.DomainError], code: str
) -> None:
    with pytest.raises(expected) as caught, errors.from_store():
        raise raised
    assert caught.value.code == code
    assert caught.value.__cause__ is raised


def test_the_shutting_down_message_is_the_domain_s() -> None:
    with pytest.raises(errors.Unavailable, match="shutting down"), errors.from_store():
        raise store_errors.BatcherClosed()


@pytest.mark.parametrize(
    "raised", [store_errors.SizeOutOfRange(), store_errors.BlobHashMismatch(), ValueError("x")]
)
def test_what_the_table_does_not_name_passes_unchanged(raised: Exception) -> None:
    with pytest.raises(type(raised)) as caught, errors.from_store():
        raise raised
    assert caught.value is raised
