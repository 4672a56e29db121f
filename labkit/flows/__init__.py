"""Flow visibility: IPFIX information elements, codec, exporter and collector (RFC 7011).

Later work adds the flow aggregator, enrichment with pod and policy metadata, and flow stores.
"""
