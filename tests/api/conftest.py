"""Fixtures the API tests share: plant A (the default plant) and plant B ("Other"), a node and a
characteristic at A, an engineer at A and one at B only (the outsider), an operator, and the
CL 10, σ 1 chart (UCL 13, LCL 7, n = 1) that the sample tests judge against."""

from __future__ import annotations

import pytest


@pytest.fixture
def plants(factory):
    return factory.default_plant(), factory.plant(name="Other", code="OTHER")


@pytest.fixture
def node(factory, plants):
    return factory.hierarchy(plants[0])


@pytest.fixture
def char(factory, plants):
    return factory.characteristic(factory.hierarchy(plants[0]))


@pytest.fixture
def engineer(factory, plants):
    """Headers of an engineer at plant A."""
    return factory.headers(factory.user("engineer", plants[0]))


@pytest.fixture
def outsider(factory, plants):
    """Headers of an engineer at the other plant only."""
    return factory.headers(factory.user("engineer", plants[1]))


@pytest.fixture
def plant(factory):
    return factory.default_plant()


@pytest.fixture
def chart(factory, plant):
    return factory.characteristic(
        factory.hierarchy(plant), ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0
    )


@pytest.fixture
def operator(factory):
    """Headers of an operator at the default plant."""
    return factory.headers(factory.user("operator"))
