"""Helpers for connector authors' tests: drive an executable through the contract and validate its output."""

from ._harness import ConnectorContractError, ConnectorHarness, Invocation, configured_catalog

__all__ = ["ConnectorContractError", "ConnectorHarness", "Invocation", "configured_catalog"]
