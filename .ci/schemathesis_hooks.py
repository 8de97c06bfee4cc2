"""schemathesis hooks for .ci/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

schemathesis learns ids from the answers it gets and reuses them, so it soon finds the admin
client whose token it calls with, and the admin API's own resource server. Disabling or deleting
that client revokes the token at once, and turning `require_dpop` back on for that resource
server refuses its Bearer token: every later call would be a 401 and the run would test nothing.
So a change aimed at either is sent to a decoy instead (a client and a resource server the
script registers for this): the operation is still exercised, on something it may break.
Reading the two is left alone, and so is everything schemathesis registers itself.
"""

import os
from urllib.parse import quote, unquote

import schemathesis

RUNNER_CLIENT_ID = os.environ["ST_RUNNER_CLIENT_ID"]
ADMIN_RESOURCE = os.environ["ST_ADMIN_RESOURCE"]
DECOY_CLIENT_ID = os.environ["ST_DECOY_CLIENT_ID"]
DECOY_RESOURCE = os.environ["ST_DECOY_RESOURCE"]


def _is(value, target):
    return isinstance(value, str) and unquote(value).rstrip("/") == target


@schemathesis.hook
def map_case(context, case):
    if case.method.upper() in ("GET", "HEAD") or not case.path_parameters:
        return case
    if _is(case.path_parameters.get("client_id"), RUNNER_CLIENT_ID):
        case.path_parameters["client_id"] = DECOY_CLIENT_ID
    if _is(case.path_parameters.get("identifier"), ADMIN_RESOURCE):
        case.path_parameters["identifier"] = quote(DECOY_RESOURCE, safe="")
    return case
