"""Schemathesis hooks for scripts/schemathesis.sh (loaded from this path through SCHEMATHESIS_HOOKS).

The API documents its `application/yaml` answers (export) as text: a stream of manifests, several YAML
documents separated by `---`. Schemathesis would parse such a body as one YAML document, fail on the second,
and stop testing every operation after it; here the body is the documented string itself.
"""

import schemathesis
from schemathesis.core.media_types import YAML_MEDIA_TYPES


# Every YAML media type: schemathesis picks the first registration of the YAML family, whichever name it has.
@schemathesis.deserializer(*YAML_MEDIA_TYPES)
def yaml_text(_ctx, response):
    return response.content.decode(response.encoding or "utf-8")
