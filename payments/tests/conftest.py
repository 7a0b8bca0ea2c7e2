import pytest

from payments.tests.stripe_stub import StripeStub


@pytest.fixture
def stripe_stub(settings):
    """The real Stripe provider (official SDK) pointed at a local stub server."""
    with StripeStub() as stub:
        settings.STRIPE_SECRET_KEY = "sk_test_stub_key"
        settings.STRIPE_API_BASE = stub.url
        settings.STRIPE_TIMEOUT_SECONDS = 0.5
        yield stub


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (the sandbox's webhook deliveries) inside transactional tests."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run
