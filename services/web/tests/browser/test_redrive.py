"""Redrive in the browser, against real servers: documents are sent with the Submit page,
refused by the real ingestor (a route they violate, or the publisher's parser), then the route
changes (the ingestor restarts with the new route, same consumer group) and the dead letter is
redriven from the Dead letters page. The record is stored once however often it is redriven,
and each redrive is recorded with who sent it."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Page, expect

from streamsuite_common.db import connect_kwargs
from streamsuite_ingestor.routes import Field, Route, all_routes

from ..conftest import running_ingestor, serving, unique, wait_for, web_config
from .conftest import screenshots

# Submit, Kafka, a (re)joining ingestor, PostgreSQL: generous on a busy 2-core machine.
PIPELINE_S = 120


def settled(condition, *, what: str):
    return wait_for(condition, what=what, timeout_s=PIPELINE_S)


OPERATOR = "dev"  # the subject of the tests' token: a signed-in operator is who redrives


def reading_route(max_celsius: float) -> tuple[Route, ...]:
    return all_routes((
        Route(name="reading", table="sensor_readings", fields=(
            Field(name="sensor", type="string", column="sensor", nonempty=True),
            Field(name="celsius", type="number", column="celsius", min=-90, max=max_celsius),
        )),
    ))  # fmt: skip


STRICT, RELAXED = reading_route(60), reading_route(100)


@dataclasses.dataclass
class Env:
    url: str
    kafka: object
    writer: object
    reader: object
    reader_role: str
    schema: str
    group: str
    shots: Path

    def ingestor(self, routes):
        """The real ingestor with these routes, resuming the one consumer group."""
        return running_ingestor(self.kafka, self.writer, self.reader_role, self.schema,
                                routes=routes, group_id=self.group)  # fmt: skip

    def scalar(self, statement: str, *params):
        conn = psycopg2.connect(**connect_kwargs(self.reader, application_name="redrive-test"))
        try:
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchone()[0]
        finally:
            conn.close()

    def stored(self, sensor: str) -> int:
        return self.scalar(
            "SELECT count(*) FROM records WHERE payload @> %s::jsonb",
            json.dumps({"sensor": sensor}),
        )


@pytest.fixture(scope="module")
def env(
    module_kafka, module_schema, screenshot_dir, writer_settings, reader_settings
) -> Iterator[Env]:
    config = web_config(reader_settings, module_schema, kafka=module_kafka)
    with serving(config) as web:
        yield Env(
            url=str(web.base_url).rstrip("/"), kafka=module_kafka, writer=writer_settings,
            reader=dataclasses.replace(reader_settings, schema=module_schema),
            reader_role=reader_settings.dbuser, schema=module_schema,
            group=unique("web-redrive-ingestor"), shots=screenshot_dir,
        )  # fmt: skip


def submit(page: Page, env: Env, text: str) -> None:
    page.goto(f"{env.url}/submit")
    page.fill("textarea[name=content]", text)
    page.click("#submit-button")
    expect(page.locator("#result")).to_contain_text("Published")


def refused(env: Env, sensor: str, reason: str) -> int:
    """The id of the dead letter of the document of ``sensor``, once stored."""
    return settled(
        lambda: env.scalar(
            "SELECT max(id) FROM dead_letters WHERE reason = %s AND convert_from(raw, 'UTF8') "
            "LIKE %s", reason, f"%{sensor}%",
        ),
        what=f"the {reason} dead letter of {sensor}")  # fmt: skip


def redrives(env: Env, letter_id: int) -> int:
    return env.scalar(
        "SELECT count(*) FROM dead_letter_redrives WHERE dead_letter_id = %s", letter_id
    )


def everything_before_is_read(page: Page, env: Env) -> None:
    """A sentinel sent after what came before and seen stored: the ingestor reads its one
    partition in order, so every earlier message has been handled by then."""
    sentinel = f"sentinel-{uuid.uuid4().hex[:8]}"
    submit(page, env, json.dumps({"note": sentinel}))
    settled(
        lambda: env.scalar(
            "SELECT count(*) FROM records WHERE payload @> %s::jsonb",
            json.dumps({"note": sentinel}),
        ),
        what="the sentinel stored",
    )


def test_a_dead_letter_redriven_after_a_route_change_is_stored_once(page: Page, env: Env):
    sensor = f"s-{uuid.uuid4().hex[:10]}"
    with env.ingestor(STRICT):
        submit(page, env, json.dumps({"sensor": sensor, "celsius": 75}))
        letter = refused(env, sensor, "route-violation")
    assert env.stored(sensor) == 0
    with env.ingestor(RELAXED):  # the route changed: up to 100 °C now
        page.goto(f"{env.url}/dead-letters?reason=route-violation")
        card = page.locator(f'.letter[data-id="{letter}"]')
        expect(card).to_contain_text("celsius")
        card.locator("button.redrive").click()
        result = page.locator("#redrive-result")
        expect(result).to_contain_text(f"Dead letter {letter}: 1 document published")
        screenshots(page, env.shots, "redrive-result")
        page.click("#redrive-result a.result-records")
        expect(page.locator("#records tbody tr", has_text=sensor)).to_have_count(1)
        settled(lambda: env.stored(sensor) == 1, what="the redriven record stored")

        # Again: recorded as a second redrive, and still stored once.
        page.goto(f"{env.url}/dead-letters?reason=route-violation")
        page.locator(f'.letter[data-id="{letter}"] button.redrive').click()
        expect(page.locator("#redrive-result")).to_contain_text("1 document published")
        settled(lambda: redrives(env, letter) == 2, what="both redrives recorded")
        everything_before_is_read(page, env)
        assert env.stored(sensor) == 1
        assert env.scalar("SELECT count(*) FROM sensor_readings WHERE sensor = %s", sensor) == 1

    page.goto(f"{env.url}/dead-letters?reason=route-violation")
    card = page.locator(f'.letter[data-id="{letter}"]')
    expect(card.locator(".redriven")).to_have_text("redriven 2\u00d7")
    expect(card.locator(".redrives li")).to_have_count(2)
    expect(card.locator(".redrives li").first).to_contain_text(f"by {OPERATOR}: 1 document")
    screenshots(page, env.shots, "dead-letters-redriven")


def test_an_edited_dead_letter_is_redriven_as_edited(page: Page, env: Env):
    sensor = f"e-{uuid.uuid4().hex[:10]}"
    broken = '{"sensor": "' + sensor + '", celsius: 21}'  # unquoted key: Submit's parser refuses
    with env.ingestor(RELAXED):
        page.goto(f"{env.url}/submit")
        page.fill("textarea[name=content]", broken)
        page.click("#submit-button")
        expect(page.locator("#result")).to_contain_text("Refused")
        letter = refused(env, sensor, "invalid-json")
        page.goto(f"{env.url}/dead-letters?reason=invalid-json")
        page.locator(f'.letter[data-id="{letter}"] a.edit-redrive').click()
        content = page.locator("#redrive-content")
        expect(content).to_have_value(broken)
        content.fill(json.dumps({"sensor": sensor, "celsius": 21}))
        screenshots(page, env.shots, "redrive-edit")
        page.click("#redrive-edited")
        expect(page.locator("#redrive-result")).to_contain_text("1 document published")
        settled(lambda: env.stored(sensor) == 1, what="the edited record stored")
        settled(lambda: redrives(env, letter) == 1, what="the redrive recorded")
    assert (
        env.scalar("SELECT edited FROM dead_letter_redrives WHERE dead_letter_id = %s", letter)
        is True
    )


def test_bulk_redrive_sends_every_dead_letter_of_a_reason_once(page: Page, env: Env):
    sensors = [f"b-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    with env.ingestor(STRICT):
        for sensor in sensors:
            submit(page, env, json.dumps({"sensor": sensor, "celsius": 80}))
        letters = [refused(env, sensor, "route-violation") for sensor in sensors]
    with env.ingestor(RELAXED):
        page.goto(f"{env.url}/dead-letters?reason=route-violation")
        page.click("#redrive-reason")
        result = page.locator("#redrive-result")
        for letter in letters:
            expect(result.locator(f'[data-id="{letter}"]')).to_contain_text("1 document published")
        screenshots(page, env.shots, "redrive-bulk")
        for sensor in sensors:
            settled(lambda s=sensor: env.stored(s) == 1, what=f"{sensor} stored")
        for letter in letters:
            settled(lambda n=letter: redrives(env, n) == 1, what=f"redrive of {letter} recorded")
        # Only what was never redriven goes the second time: nothing of these three.
        page.goto(f"{env.url}/dead-letters?reason=route-violation")
        page.click("#redrive-reason")
        expect(page.locator("#redrive-result")).not_to_contain_text("published")
        everything_before_is_read(page, env)
    assert [env.stored(sensor) for sensor in sensors] == [1, 1, 1]
    assert [redrives(env, letter) for letter in letters] == [1, 1, 1]
