"""Flow visibility, as Antrea's FlowExporter and Flow Aggregator provide it.

* :mod:`.ies`, :mod:`.ipfix`, :mod:`.transport`: IPFIX information elements (IANA, RFC 5103,
  VMware, Antrea 56506), the RFC 7011 codec, UDP/TCP exporter and collector;
* :mod:`.fastdecode` (with :mod:`.kernels`, :mod:`.frames`): whole batches of IPFIX straight
  into a DataFrame (``Decoder.feed_frame``), numba-compiled when numba is installed;
* :mod:`.records`: Antrea flow records and their IPFIX form; :mod:`.exporter`: per-node export;
* :mod:`.traffic`: traffic profiles and the sim flow source; :mod:`.aggregator`: the Flow
  Aggregator (Aggregate mode); :mod:`.recommend`: least-privilege policy recommendation;
  :mod:`.summary`: the tables behind the flow graphs.
"""

from .aggregator import AggregatorService, FlowAggregator, pods_by_ip
from .exporter import export_records
from .traffic import SHOP_TRAFFIC, TrafficProfile, TrafficRule, TrafficRun

__all__ = ["SHOP_TRAFFIC", "TrafficProfile", "TrafficRule", "TrafficRun", "FlowAggregator", "AggregatorService",
           "pods_by_ip", "export_records"]
