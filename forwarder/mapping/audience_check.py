"""What is wrong with the `[audiences.NAME]` definitions, as `forwarder check`, startup and reloads report it."""

from __future__ import annotations

from ..problems import Problem
from ..settings import Settings
from .names import normalise_name
from .rules import parse_condition


def audience_problems(settings: Settings) -> list[Problem]:
    problems: list[Problem] = []
    marketing = settings.marketing
    for name, audience in settings.audiences.items():
        where = f"audiences.{name}"
        for part in ("enter", "unless", "exit", "past", "goal"):
            rule = getattr(audience, part)
            for path, test in rule.when.items() if rule is not None else ():
                try:
                    parse_condition(path, test)
                except ValueError as error:
                    reason = str(error)
                    problems.append(Problem("error", "config", f"{where}.{part}.when.{path}", reason))
        enter = audience.enter
        if enter and audience.unless and normalise_name(audience.unless.event) == normalise_name(enter.event):
            problems.append(
                Problem("error", "config", f"{where}.unless.event", "is the enter event: nobody would ever enter")
            )
        if marketing.advertiser_ids and audience.advertiser_id not in marketing.advertiser_ids:
            problems.append(
                Problem(
                    "error",
                    "config",
                    f"{where}.advertiser_id",
                    f"{audience.advertiser_id} is not among marketing.advertiser_ids",
                )
            )
    if settings.audiences and marketing.access_token is None and not (marketing.app_id and marketing.app_secret):
        problems.append(
            Problem(
                "warning",
                "config",
                "marketing",
                "audiences need a Marketing API credential: set marketing.access_token (as a secret) or "
                "marketing.app_id, app_secret and public_url to connect TikTok from the status page",
            )
        )
    return problems
