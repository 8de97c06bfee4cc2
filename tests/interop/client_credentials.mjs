// Interop: panva's oauth4webapi, a third-party OAuth 2.0 client, against a running idp.
//
// Discovery (RFC 8414), client_credentials with DPoP (RFC 9449) including the server-nonce
// retry, the access token checked as a resource server would (RFC 9068), introspection
// (RFC 7662), revocation (RFC 7009) and introspection again. Every step asserts its result and
// prints one line; any surprise throws and the process exits 1.
//
// Run by tests/suite/interop.rs with ISSUER, CLIENT_ID, CLIENT_SECRET and RESOURCE set:
//   ISSUER=http://127.0.0.1:8080 CLIENT_ID=… CLIENT_SECRET=… RESOURCE=https://api.test \
//     node tests/interop/client_credentials.mjs

import assert from 'node:assert/strict'
import * as oauth from 'oauth4webapi'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const ISSUER = new URL(env('ISSUER'))
const CLIENT_ID = env('CLIENT_ID')
const CLIENT_SECRET = env('CLIENT_SECRET')
const RESOURCE = env('RESOURCE')

// The server under test is plain http on loopback; every request gives up after 10 s.
const http = {
  [oauth.allowInsecureRequests]: true,
  signal: () => AbortSignal.timeout(10_000),
}

const step = (name, detail) => console.log(`ok  ${name}: ${detail}`)

/** The claims of a compact JWS, unverified (what the server put in it). */
const claimsOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
const headerOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'))

/** RFC 9068 §3 allows a string or an array; this server issues one audience per token. */
function assertAudience(aud, where) {
  const audiences = Array.isArray(aud) ? aud : [aud]
  assert.deepEqual(audiences, [RESOURCE], `${where}: aud must be exactly the requested resource`)
}

async function main() {
  // 1. Discovery through the RFC 8414 well-known URI (not the OIDC one).
  const as = await oauth.processDiscoveryResponse(
    ISSUER,
    await oauth.discoveryRequest(ISSUER, { ...http, algorithm: 'oauth2' }),
  )
  for (const endpoint of ['token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) {
    assert.equal(typeof as[endpoint], 'string', `discovery: ${endpoint} is advertised`)
  }
  assert.ok(as.grant_types_supported?.includes('client_credentials'), 'discovery: client_credentials')
  assert.ok(as.token_endpoint_auth_methods_supported?.includes('client_secret_basic'), 'discovery: client_secret_basic')
  assert.ok(as.dpop_signing_alg_values_supported?.includes('ES256'), 'discovery: DPoP with ES256')
  step('discovery', `issuer ${as.issuer}, token endpoint ${as.token_endpoint}`)

  const client = { client_id: CLIENT_ID }
  const clientAuth = oauth.ClientSecretBasic(CLIENT_SECRET)
  const keyPair = await oauth.generateKeyPair('ES256')
  const dpop = oauth.DPoP(client, keyPair)
  const jkt = await dpop.calculateThumbprint()
  const grant = () =>
    oauth
      .clientCredentialsGrantRequest(as, client, clientAuth, { resource: RESOURCE }, { ...http, DPoP: dpop })
      .then((response) => oauth.processClientCredentialsResponse(as, client, response))

  // 2. The first proof has no nonce: the server must answer use_dpop_nonce with a DPoP-Nonce,
  //    which the DPoP handle keeps for the retry.
  let challenge
  try {
    await grant()
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err
    challenge = err
  }
  assert.ok(challenge, 'token: a proof without a nonce must get use_dpop_nonce (dpop.require_nonce)')
  assert.equal(challenge.status, 400, 'token: use_dpop_nonce is a 400 (RFC 9449 §8)')
  const nonce = challenge.response.headers.get('dpop-nonce')
  assert.ok(nonce, 'token: use_dpop_nonce comes with a DPoP-Nonce header')
  step('dpop nonce', `400 ${challenge.error} with DPoP-Nonce (${nonce.length} chars)`)

  // 3. The retry with the nonce gets a DPoP-bound token.
  const tokens = await grant()
  assert.equal(tokens.token_type, 'dpop', 'token: token_type DPoP (oauth4webapi lower-cases it)')
  assert.ok(tokens.expires_in > 0, 'token: expires_in')
  const accessToken = tokens.access_token
  const claims = claimsOf(accessToken)
  assert.equal(headerOf(accessToken).typ, 'at+jwt', 'token: RFC 9068 typ')
  assert.equal(claims.iss, as.issuer, 'token: iss')
  assert.equal(claims.client_id, CLIENT_ID, 'token: client_id')
  assertAudience(claims.aud, 'token')
  assert.equal(claims.cnf?.jkt, jkt, 'token: cnf.jkt is the thumbprint of our DPoP key')
  step('client_credentials', `token_type ${tokens.token_type}, aud ${claims.aud}, cnf.jkt ${jkt}, scope "${tokens.scope}"`)

  // 4. The token as a resource server at RESOURCE sees it: oauth4webapi's RFC 9068 validator
  //    checks the signature against the published JWKS, typ, iss, aud, exp and the DPoP binding
  //    of a proof our handle makes for a request to the resource.
  let captured
  await oauth.protectedResourceRequest(accessToken, 'GET', new URL('/interop', RESOURCE), undefined, undefined, {
    DPoP: dpop,
    [oauth.customFetch]: async (url, init) => {
      captured = new Request(url, { method: init.method, headers: init.headers })
      return new Response(null, { status: 204 })
    },
  })
  const verified = await oauth.validateJwtAccessToken(as, captured, RESOURCE, { ...http, requireDPoP: true })
  assertAudience(verified.aud, 'resource server')
  step('resource server', `signature, aud ${verified.aud} and DPoP binding verified against ${as.jwks_uri}`)

  // 5. Introspection of the live token.
  const introspect = async () =>
    oauth.processIntrospectionResponse(
      as,
      client,
      await oauth.introspectionRequest(as, client, clientAuth, accessToken, http),
    )
  const live = await introspect()
  assert.equal(live.active, true, 'introspection: active')
  assert.equal(live.token_type, 'DPoP', 'introspection: token_type')
  assert.equal(live.cnf?.jkt, jkt, 'introspection: cnf.jkt')
  assert.equal(live.client_id, CLIENT_ID, 'introspection: client_id')
  assert.equal(live.jti, claims.jti, 'introspection: jti')
  assertAudience(live.aud, 'introspection')
  step('introspection', `active ${live.active}, token_type ${live.token_type}, cnf.jkt ${live.cnf.jkt}`)

  // 6. Revocation (RFC 7009): 200, nothing else to read.
  await oauth.processRevocationResponse(
    await oauth.revocationRequest(as, client, clientAuth, accessToken, {
      ...http,
      additionalParameters: { token_type_hint: 'access_token' },
    }),
  )
  step('revocation', '200')

  // 7. Introspection after revocation: inactive, and nothing more said about it (RFC 7662 §2.2).
  const revoked = await introspect()
  assert.deepEqual({ ...revoked }, { active: false }, 'introspection after revocation')
  step('introspection after revocation', 'active false')
}

/** What a failure says: oauth4webapi's error code, the OAuth error, the HTTP answer. */
function describe(err) {
  const lines = [err?.stack ?? String(err)]
  if (err?.code) lines.push(`code: ${err.code}`)
  if (err instanceof oauth.ResponseBodyError) {
    lines.push(`oauth error: ${err.status} ${err.error} ${err.error_description ?? ''}`)
  }
  const response = err?.response instanceof Response ? err.response : err?.cause
  if (response instanceof Response) {
    lines.push(`response: ${response.status} ${JSON.stringify(Object.fromEntries(response.headers))}`)
  }
  const cause = err?.cause
  if (cause instanceof Error) {
    lines.push(`cause: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`)
  } else if (cause !== undefined && !(cause instanceof Response)) {
    try {
      lines.push(`cause: ${JSON.stringify(cause)}`)
    } catch {
      lines.push(`cause: ${String(cause)}`)
    }
  }
  return lines.join('\n')
}

try {
  await main()
  console.log('ok  all steps passed')
} catch (err) {
  console.error(`FAIL ${describe(err)}`)
  process.exitCode = 1
}
