"""A service's routing table (shared/bus/routing.py): one handler per event type, read by the
consumer as a mapping; each service's table routes what it consumes."""

from __future__ import annotations

import pytest

from services.intake.service_layer.handlers import HANDLERS as INTAKE
from services.payment.service_layer.handlers import HANDLERS as PAYMENT
from shared.bus.routing import Routes
from shared.events.catalogue import ApplicationDecided, ApplicationSubmitted, BenefitChanged


def handled(*_: object) -> None:
    return None


def test_an_event_type_is_routed_once() -> None:
    routes = Routes().on(ApplicationDecided, handled)
    with pytest.raises(ValueError, match="ApplicationDecided is routed twice"):
        routes.on(ApplicationDecided, handled)


def test_the_consumer_reads_it_as_a_mapping() -> None:
    routes = Routes().on(ApplicationDecided, handled).on(BenefitChanged, handled)
    assert list(routes) == [ApplicationDecided, BenefitChanged] and len(routes) == 2
    assert routes[BenefitChanged] is handled and routes.get(ApplicationSubmitted) is None


def test_each_table_routes_what_its_service_consumes() -> None:
    assert set(PAYMENT) == {ApplicationDecided, BenefitChanged}
    assert ApplicationDecided in INTAKE and BenefitChanged in INTAKE
