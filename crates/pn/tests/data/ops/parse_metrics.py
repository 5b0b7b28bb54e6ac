"""Parses an OpenMetrics text exposition (stdin) with PyPI's prometheus-client, the
reference parser, and prints every sample as JSON: {"name{k=v,...}": value}. Exit code 3 when
prometheus-client is not installed (the test then skips)."""
import json
import sys

try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)

out = {}
types = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    types[family.name] = family.type
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps({"samples": out, "types": types}))
