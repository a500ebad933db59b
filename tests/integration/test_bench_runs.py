"""The benchmark's whole path on a tiny backlog: the README's `python -m sync bench` must not rot.

Not a timing test: it checks that every phase completes and that the figures add up.
"""

from __future__ import annotations

from sync.sandbox.bench import format_result, run_bench


def test_the_bench_drains_a_small_backlog_and_prints_its_table():
    lines: list[str] = []
    result = run_bench(
        n=6,
        baseline_n=2,
        salesforce_latency=0.0,
        stripe_latency=0.0,
        interval=1.0,
        latency_samples=2,
        seed=3,
        idle_seconds=4.0,
        out=lines.append,
    )

    links, paid = result.phases
    assert (links.records, paid.records) == (6, 6)
    assert links.stripe_calls >= 6 and paid.stripe_calls >= 6  # a link made, then a state read, per request
    assert 0 < links.salesforce_calls < 6 * 3  # batched: fewer than the naive script's calls
    assert len(result.link_latency) == 2 and len(result.paid_latency) == 2
    assert result.peak_rss_mb > 0
    assert [b.records for b in result.baseline] == [2, 2]
    table = format_result(result)
    assert "requests → links emailed" in table and "links paid → Paid" in table
    assert "naive baseline, measured on 2 requests and scaled to N = 6" in table
    idle_salesforce, idle_stripe = result.idle_per_hour
    assert idle_salesforce > 0 and idle_stripe > 0  # a 1-s CRM cycle, a 2-s events loop
    assert f"Salesforce {idle_salesforce:.0f}, Stripe {idle_stripe:.0f}" in table
