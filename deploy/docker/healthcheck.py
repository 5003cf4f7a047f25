"""Container HEALTHCHECK: GET $PARLEY_HEALTHCHECK_URL (default /healthz on $PORT) with urllib.

Exit 0 on a 2xx answer, 1 otherwise; the images carry no curl or wget.
"""

import os
import sys
import urllib.request

url = os.environ.get("PARLEY_HEALTHCHECK_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
try:
    with urllib.request.urlopen(url, timeout=3) as answer:
        sys.exit(0 if 200 <= answer.status < 300 else 1)
except Exception as exc:  # any failure means unhealthy
    sys.stderr.write(f"healthcheck {url}: {exc}\n")
    sys.exit(1)
