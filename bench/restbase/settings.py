"""The product's settings with the baseline views of `bench.restbase.views` mounted beside its URLs."""

from tutoring.settings import *  # noqa: F403

ROOT_URLCONF = "bench.restbase.urls"
