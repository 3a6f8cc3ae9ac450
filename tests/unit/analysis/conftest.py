"""One BLAS thread too: ``linear_cka`` calls scipy's BLAS (syrk) besides torch's."""

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield
