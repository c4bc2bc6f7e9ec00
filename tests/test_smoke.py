from sync_protocol.testing import ConnectorHarness, configured_catalog


def test_synthetic_source_reads_pages(synthetic_source: list[str]) -> None:
    harness = ConnectorHarness(synthetic_source)
    config = {"streams": {"a": 5}, "page_size": 2}
    catalog = configured_catalog(harness.discover(config))
    result = harness.read(config, catalog)
    assert [r.record.data["id"] for r in result.records] == [f"a-{i}" for i in range(5)]
    assert [s.source_state.data for s in result.states] == [{"next": 2}, {"next": 4}, {"next": 5}]
