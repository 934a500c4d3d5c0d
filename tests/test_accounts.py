"""Customer accounts (``incident report import-accounts``), SLA credits in money, KPIs in the
database with their owners, and the demo's accounts and KPIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError
from sqlmodel import col, select

from incident_cli.main import main as incident_main
from statuspage.accounts import demo as accounts_demo
from statuspage.accounts import service as accounts
from statuspage.billing_config import BillingConfig
from statuspage.context import WriteContext
from statuspage.db.models import Account, AuditEvent
from statuspage.domain.credits import AccountTerms, CreditTerms, compute_credits
from statuspage.reports import credits, kpis
from statuspage.reports.credits import TierBreach, format_money
from statuspage.runtime import Runtime
from statuspage.settings import load_settings

HEADER = "name,tier,seats,monthly_fee,components"
GOOD = (
    "Name,Tier,Seats,Monthly_Fee,Components\n"
    "Acme Logistics,premium,12,3588.00,api;web\n"
    "Borealis Health,Standard,40,2760,\n"
    '"Cobalt Retail",standard,8,592.5,"checkout auth"\n'
    "'=Formula Co,basic,1,0,\n"
)


def _invoke(cli_env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=cli_env).invoke(incident_main, list(args), prog_name="incident")


def _accounts(runtime: Runtime) -> dict[str, tuple[str, int, Decimal, list[str]]]:
    with runtime.session() as session:
        return {a.name: (a.tier, a.seats, Decimal(a.monthly_fee), list(a.components)) for a in accounts.list_accounts(session)}


def _audit(runtime: Runtime, action: str) -> list[AuditEvent]:
    with runtime.session() as session:
        return list(session.exec(select(AuditEvent).where(col(AuditEvent.action) == action).order_by(col(AuditEvent.id))).all())


# Importing accounts --------------------------------------------------------------------------


def test_import_adds_then_replaces_by_name(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("accounts.csv").write_text(GOOD)
    result = _invoke(cli_env, "report", "import-accounts", "accounts.csv")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported 4 accounts from accounts.csv: 4 added, 0 updated, 0 unchanged\n"
    assert _accounts(runtime) == {
        "Acme Logistics": ("premium", 12, Decimal("3588.00"), ["api", "web"]),
        "Borealis Health": ("standard", 40, Decimal("2760.00"), []),
        "Cobalt Retail": ("standard", 8, Decimal("592.50"), ["checkout", "auth"]),
        "=Formula Co": ("basic", 1, Decimal("0.00"), []),
    }
    [event] = _audit(runtime, "account.import")
    assert event.actor == "alice" and event.after is not None
    assert (event.after["file"], event.after["added_count"], event.after["updated"]) == ("accounts.csv", 4, [])

    # Same name in another case: replaced (spelling too); the same terms: unchanged; others kept.
    Path("again.csv").write_text(f"{HEADER}\nACME LOGISTICS,Premium,14,4186,api\nBorealis Health,standard,40,2760.00,\n")
    again = _invoke(cli_env, "report", "import-accounts", "again.csv")
    assert again.stdout == "Imported 2 accounts from again.csv: 0 added, 1 updated, 1 unchanged\n"
    stored = _accounts(runtime)
    assert stored["ACME LOGISTICS"] == ("premium", 14, Decimal("4186.00"), ["api"])
    assert "Acme Logistics" not in stored and len(stored) == 4
    latest = _audit(runtime, "account.import")[-1]
    assert latest.before == {
        "Acme Logistics": {"name": "Acme Logistics", "tier": "premium", "seats": 12, "monthly_fee": "3588.00", "components": ["api", "web"]}
    }


def test_every_bad_row_is_one_line_and_nothing_is_written(
    cli_env: dict[str, str], runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("good.csv").write_text(GOOD)
    assert _invoke(cli_env, "report", "import-accounts", "good.csv").exit_code == 0
    before = _accounts(runtime)
    Path("accounts.csv").write_text(
        f"{HEADER}\n"
        "Acme Logistics,gold,12,3588.00,api\n"
        "Birch,premium,0,100,\n"
        "Cobalt Retail,standard,3,12.345,web\n"
        'Dune,standard,3,"1,200.00",nope;api\n'
        "Elm,premium,2,100,\n"
        "elm,premium,2,100,\n"
        ",basic,1,0,\n"
        "Fir,basic,1,0,,extra\n"
        "Good Row,standard,2,98,\n"
    )
    result = _invoke(cli_env, "report", "import-accounts", "accounts.csv")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'accounts.csv:2: tier: "gold" is not a support tier (the tiers are basic, premium, standard)',
        "accounts.csv:3: seats: 0 is out of range: 1 to 1,000,000",
        'accounts.csv:4: monthly_fee: "12.345" is not an amount like 1234.50 (digits, at most 2 decimals, no currency '
        "sign or thousands separator)",
        'accounts.csv:5: monthly_fee: "1,200.00" is not an amount like 1234.50 (digits, at most 2 decimals, no currency '
        "sign or thousands separator)",
        'accounts.csv:5: components: no component "nope" on this page (the components are api, auth, chat-support, '
        "checkout, email-support, help-center, notifications, phone-support, web)",
        'accounts.csv:7: name: "elm": the same account as on line 6',
        "accounts.csv:8: name: missing value",
        "accounts.csv:9: row: 6 cells, but the header names 5 columns",
    ]
    assert _accounts(runtime) == before
    assert len(_audit(runtime, "account.import")) == 1


@pytest.mark.parametrize(
    ("content", "lines"),
    [
        ("name,tier,seats\nAcme,basic,1\n", [
            "accounts.csv:1: monthly_fee: missing column; the header must name name,tier,seats,monthly_fee (in any order; "
            "components is optional)"]),
        (f"{HEADER},price\nAcme,basic,1,0,,\n", [f'accounts.csv:1: header: unknown column "price"; the columns are {HEADER}']),
        ("", [f"accounts.csv:1: header: the file is empty; its first line must be the header {HEADER}"]),
        (f"{HEADER}\n\n", ["accounts.csv:2: name: no accounts after the header"]),
        (f"{HEADER}\nAc\x1bme,basic,1,0,\n", ["accounts.csv:2: name: must be one line without control characters (it has U+001B)"]),
    ],
    ids=["missing-column", "unknown-column", "empty", "header-only", "control-character"],
)
def test_bad_headers_and_files(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               content: str, lines: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    Path("accounts.csv").write_text(content)
    result = _invoke(cli_env, "report", "import-accounts", "accounts.csv")
    assert (result.exit_code, result.stderr.splitlines()) == (2, lines)
    assert _accounts(runtime) == {}


def test_not_utf8_and_server_are_refused(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "latin1.csv"
    source.write_bytes(f"{HEADER}\nCaf\xe9 Uno,basic,1,0,\n".encode("latin-1"))
    result = _invoke(cli_env, "report", "import-accounts", str(source))
    assert (result.exit_code, result.stderr) == (2, f"{source}:2: file: not UTF-8 text (byte 0xe9); save it as UTF-8 CSV\n")
    source.write_text(GOOD)
    remote = _invoke({**cli_env, "STATUSPAGE_URL": "http://127.0.0.1:9", "STATUSPAGE_TOKEN": "x"}, "report", "import-accounts", str(source))
    assert remote.exit_code == 2
    assert "import-accounts works on the database directly, not through --server" in remote.stderr
    assert _accounts(runtime) == {}


# Credits in money ----------------------------------------------------------------------------

RULES = [
    CreditTerms("standard", "Standard", Decimal(5), Decimal(20)),
    CreditTerms("premium", "Premium", Decimal(10), Decimal(50)),
]
ACCOUNTS = [
    AccountTerms("Acme", "premium", Decimal("1000.00"), frozenset({"api", "web"})),
    AccountTerms("Birch", "premium", Decimal("333.33")),  # every component
    AccountTerms("Cobalt", "standard", Decimal("885.00"), frozenset({"checkout"})),
    AccountTerms("Dune", "standard", Decimal("99.99"), frozenset({"api"})),
    AccountTerms("Elm", "basic", Decimal("50.00")),  # a tier without credits
]
BREACHES = [
    TierBreach(1, "premium", frozenset({"api"})),
    TierBreach(2, "premium", frozenset({"checkout"})),
    TierBreach(3, "premium", frozenset()),  # no component: only accounts that follow everything
    TierBreach(4, "standard", frozenset({"api", "checkout"})),
    TierBreach(5, "standard", frozenset({"checkout"})),
    TierBreach(6, "premium", frozenset({"web"})),
    TierBreach(8, "premium", frozenset({"api"})),
    TierBreach(9, "premium", frozenset({"api"})),
]


def _lines(found: tuple[credits.AccountCredit, ...]) -> list[tuple[str, int, str]]:
    return [(c.name, c.breaches, str(c.credit)) for c in found]


def test_credits_by_hand() -> None:
    found = compute_credits(ACCOUNTS, RULES, BREACHES)
    # Acme: 1, 6, 8, 9 (api or web) -> 40 % of 1000.00. Birch: 1, 2, 3, 6, 8, 9 -> 60 %, capped at
    # 50 % of 333.33 = 166.665 -> 166.67 (half up). Cobalt: 4, 5 -> 10 % of 885.00. Dune: 4 -> 5 %
    # of 99.99 = 4.9995 -> 5.00. Dune is on Standard, so premium breach 1 (api) is not its.
    assert _lines(found.accounts) == [("Acme", 4, "400.00"), ("Birch", 6, "166.67"), ("Cobalt", 2, "88.50"), ("Dune", 1, "5.00")]
    assert [(t.tier, t.accounts, str(t.credit)) for t in found.tiers] == [("standard", 2, "93.50"), ("premium", 2, "566.67")]
    assert (str(found.total), found.customers_owed) == ("660.17", 4)
    # Per incident, each breach earns its share in order; Birch's shares add up to its credit.
    assert _lines(found.by_incident[1]) == [("Acme", 1, "100.00"), ("Birch", 1, "33.33")]
    assert _lines(found.by_incident[2]) == [("Birch", 1, "33.34")]
    assert _lines(found.by_incident[3]) == [("Birch", 1, "33.33")]
    assert _lines(found.by_incident[4]) == [("Cobalt", 1, "44.25"), ("Dune", 1, "5.00")]
    assert _lines(found.by_incident[8]) == [("Acme", 1, "100.00"), ("Birch", 1, "33.34")]
    assert _lines(found.by_incident[9]) == [("Acme", 1, "100.00"), ("Birch", 1, "0.00")]  # Birch is at its cap
    assert sum(c.credit for i in found.by_incident.values() for c in i if c.name == "Birch") == Decimal("166.67")


def test_no_breach_no_credit() -> None:
    found = compute_credits(ACCOUNTS, RULES, [])
    assert (found.accounts, found.total, found.customers_owed, dict(found.by_incident)) == ((), Decimal("0.00"), 0, {})
    assert [(t.tier, t.accounts, str(t.credit)) for t in found.tiers] == [("standard", 0, "0.00"), ("premium", 0, "0.00")]


def test_month_credits_from_the_database(
    cli_env: dict[str, str], runtime: Runtime, make_ctx: Callable[..., WriteContext], config_file: Path
) -> None:
    accounts.import_accounts(ctx=make_ctx(), name="a.csv", data=GOOD.encode())
    config = runtime.settings.config
    with runtime.session() as session:
        summary = credits.month_credits(session, config, [TierBreach(7, "premium", frozenset({"web"})), TierBreach(8, "standard", frozenset())])
    # Acme Logistics (premium, api+web): 10 % of 3588.00. Borealis Health (standard, every
    # component): 5 % of 2760.00. Cobalt Retail follows checkout and auth only; basic gives no credits.
    assert summary.currency == "USD"
    assert _lines(summary.accounts) == [("Acme Logistics", 1, "358.80"), ("Borealis Health", 1, "138.00")]
    assert [(t.tier, t.name, t.accounts, str(t.credit)) for t in summary.tiers] == [
        ("standard", "Standard", 1, "138.00"), ("premium", "Premium", 1, "358.80")
    ]
    assert (str(summary.total), summary.customers_owed) == ("496.80", 2)
    assert _lines(summary.by_incident[7]) == [("Acme Logistics", 1, "358.80")]

    config_file.write_text(config_file.read_text().replace("currency: USD   ", "currency: eur   "))
    euros = load_settings(config_file, env={"DATABASE_URL": cli_env["DATABASE_URL"]}).config
    with runtime.session() as session:
        summary = credits.month_credits(session, euros, [])
    assert (summary.currency, summary.accounts, format_money(summary.total, summary.currency)) == ("EUR", (), "0.00 EUR")


def test_format_money_and_currency() -> None:
    assert format_money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert format_money(Decimal("1234.5"), "EUR") == "1,234.50 EUR"
    assert format_money(Decimal("1234567.885"), "USD") == "$1,234,567.89"
    assert format_money(Decimal("0.005"), "USD") == "$0.01"
    assert format_money(Decimal("-5"), "GBP") == "-5.00 GBP"
    assert BillingConfig(currency=" eur ").currency == "EUR"
    with pytest.raises(ValidationError, match="is not a currency code like USD or EUR"):
        BillingConfig(currency="dollars")


# KPIs in the database ------------------------------------------------------------------------

KPI_HEADER = "month,fcr_percent,csat,nps,abandonment_percent,backlog_per_agent"


def test_kpis_with_owners_and_new_metrics_read_back(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "kpis.csv"
    source.write_text(
        f"{KPI_HEADER},aht_minutes,reopen_percent,fcr_percent_owner,aht_minutes_owner,reopen_percent_owner\n"
        "2026-08,82,4.7,45,3.5,20,7.2,4.1,Ben Okafor,,Chen Wei\n"
        "2026-10,72.5,4.4,38,6.5,27,8.5,6,Ben Okafor,Ana Ruiz,Chen Wei\n"
    )
    result = _invoke(cli_env, "report", "import-kpis", str(source))
    assert result.stdout == "Imported KPIs for 2 months (2026-08, 2026-10) into the database\n"
    with runtime.session() as session:
        october = kpis.month_kpis(session, "2026-10")
        trend = kpis.kpi_trend(session, "2026-10")
        assert kpis.month_values(session, "2026-09") is None
    assert october is not None
    assert dict(october.owners) == {"fcr_percent": "Ben Okafor", "aht_minutes": "Ana Ruiz", "reopen_percent": "Chen Wei"}
    results = {r.key: r for r in kpis.evaluate(october.values, october.owners)}
    assert (results["aht_minutes"].value_text, results["aht_minutes"].target_text, results["aht_minutes"].met) == ("8.5 min", "below 8 min", False)
    assert (results["reopen_percent"].value_text, results["reopen_percent"].met, results["reopen_percent"].owner) == ("6%", False, "Chen Wei")
    assert results["csat"].owner is None
    # The 3-month trend ending in October: August and October (September has no figures).
    assert [(m.month, m.values["fcr_percent"]) for m in trend] == [("2026-08", 82), ("2026-10", 72.5)]
    [event] = _audit(runtime, "kpi.import")
    assert (event.subject_id, event.after and event.after["file"]) == ("2026-08..2026-10", str(source))

    # The report reads them from the database.
    report = json.loads(_invoke(cli_env, "report", "monthly", "--month", "2026-10", "--format", "json").stdout)
    assert [k["kpi"] for k in report["service_quality"]][-2:] == ["aht_minutes", "reopen_percent"]


def test_the_json_file_of_earlier_versions_imports(cli_env: dict[str, str], runtime: Runtime, tmp_path: Path) -> None:
    legacy = tmp_path / "kpis.json"
    legacy.write_text(json.dumps({"version": 1, "months": {"2026-07": {"fcr_percent": 81, "csat": 4.6, "nps": 42}}}))
    result = _invoke(cli_env, "report", "import-kpis", str(legacy))
    assert result.stdout == "Imported KPIs for 1 month (2026-07) into the database\n"
    with runtime.session() as session:
        assert kpis.month_values(session, "2026-07") == {"fcr_percent": 81, "csat": 4.6, "nps": 42}
    legacy.write_text(json.dumps({"months": {"2026-07": {"csat": 9}}}))
    refused = _invoke(cli_env, "report", "import-kpis", str(legacy))
    assert (refused.exit_code, refused.stderr) == (2, f"{legacy}:1:csat: 9.0 is out of range: CSAT is between 1 / 5 and 5 / 5\n")


# The demo ------------------------------------------------------------------------------------


def test_demo_accounts_follow_the_pricing_and_kpis_cover_three_months(runtime: Runtime, make_ctx: Callable[..., WriteContext]) -> None:
    line = accounts_demo.seed(make_ctx("demo"))
    assert line == "14 customer accounts and KPIs for 2026-08 to 2026-10"  # the clock is in November 2026
    tiers = {tier.id: tier for tier in runtime.settings.config.support_tiers}
    with runtime.session() as session:
        rows = session.exec(select(Account)).all()
        trend = kpis.kpi_trend(session, "2026-10")
    assert {row.tier for row in rows} == {"basic", "standard", "premium"}
    for row in rows:
        price = tiers[row.tier].price
        if price.included:
            assert row.monthly_fee == 0, row.name
        else:
            assert price.min is not None and price.max is not None
            assert price.min * row.seats <= row.monthly_fee <= price.max * row.seats, row.name
            assert row.monthly_fee % row.seats == 0, row.name  # seats times a whole price per seat
    assert [m.month for m in trend] == ["2026-08", "2026-09", "2026-10"]
    assert all(set(m.owners) == set(kpis.BY_KEY) for m in trend)
