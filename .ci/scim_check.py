"""Runs scim2-tester's checks against a SCIM base URL with a bearer token, prints one line per
check and a summary, and exits non-zero if any check did not pass.

    python scim_check.py BASE_URL   (the token in SCIM_TOKEN)

A check passes with SUCCESS, COMPLIANT or ACCEPTABLE; ERROR, CRITICAL and DEVIATION (a SHOULD
not followed) fail it; SKIPPED is counted apart, with the checker's reason.
"""

import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}


def main() -> int:
    base_url = sys.argv[1]
    token = os.environ["SCIM_TOKEN"]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    passed = failed = skipped = 0
    for result in results:
        where = f"{result.resource_type}: " if result.resource_type else ""
        line = f"{result.status.name:<10} {where}{result.title}: {result.reason or ''}".rstrip()
        print(line.replace("\n", " | "))
        if result.status in PASSED:
            passed += 1
        elif result.status == Status.SKIPPED:
            skipped += 1
        else:
            failed += 1
            if result.data is not None:
                print(f"           data: {result.data!r}"[:2000])
    print(f"scim2-tester: {passed} passed, {failed} failed, {skipped} skipped")
    if not results:
        print("scim2-tester: no check ran", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
