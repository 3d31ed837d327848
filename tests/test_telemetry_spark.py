"""The telemetry rollups, unchanged, on Spark through ibis' pyspark backend.

Needs Java and the ``spark`` extra; run with ``make test-spark``. Every number
must equal the DuckDB result on the same files.
"""

import pandas as pd
import pytest

pytest.importorskip("pyspark")

import ibis  # noqa: E402
from pyspark.sql import SparkSession  # noqa: E402
from test_telemetry import (  # noqa: E402
    END,
    INSTALLS,
    INTEGRATIONS,
    START,
    events_frame,
    random_fixture,
    write_events,
)

from partnerkit.telemetry import TelemetryEngine  # noqa: E402

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def spark():
    session = (
        SparkSession.builder.master("local[2]")
        .appName("partnerkit-telemetry-test")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_backend(spark):
    return ibis.pyspark.connect(spark)


def engines(path, installs, integrations, spark_backend):
    return (
        TelemetryEngine(path, installs, integrations),
        TelemetryEngine(path, installs, integrations, backend=spark_backend),
    )


def assert_same(duck, spark):
    pd.testing.assert_frame_equal(duck, spark, check_dtype=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_hand_worked_fixture_gives_identical_numbers(tmp_path, fmt, spark_backend):
    path = write_events(events_frame(), tmp_path, fmt)
    duck, spark = engines(path, INSTALLS, INTEGRATIONS, spark_backend)
    for by in (None, "integration", "partner"):
        assert_same(duck.weekly_active(START, END, by=by), spark.weekly_active(START, END, by=by))
        assert_same(duck.error_rates(START, END, by=by), spark.error_rates(START, END, by=by))
    assert_same(duck.connection_weeks(START, END), spark.connection_weeks(START, END))
    assert duck.rollup(START, END).orphans == spark.rollup(START, END).orphans
    assert duck.orphan_events() == spark.orphan_events()
    # And the hand-worked values themselves, on Spark.
    assert spark.weekly_active(START, END)["active_connections"].tolist() == [1, 1, 2, 1]
    assert spark.error_rates(START, END)[["attempts", "errors"]].values.tolist() == [[5, 2], [4, 2]]


def test_randomised_fixture_gives_identical_numbers(tmp_path, spark_backend):
    events, installs, integrations = random_fixture()
    path = write_events(events, tmp_path, "parquet")
    duck, spark = engines(path, installs, integrations, spark_backend)
    start, end = pd.Timestamp("2025-10-08 13:00"), pd.Timestamp("2026-06-20 06:30")
    for fiscal in (1, 7):
        d = duck.rollup(start, end, fiscal_year_start_month=fiscal)
        s = spark.rollup(start, end, fiscal_year_start_month=fiscal)
        for by in (None, "integration", "partner"):
            assert_same(d.weekly_active(by), s.weekly_active(by))
            assert_same(d.error_rates(by), s.error_rates(by))
        assert d.orphans == s.orphans
        assert d.orphans.events > 0
    assert_same(duck.connection_weeks(start, end), spark.connection_weeks(start, end))
