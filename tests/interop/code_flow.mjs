// Interop: panva's openid-client, a certified OpenID Connect relying party, against a running
// idp, with a scripted user filling in the sign-in and consent forms.
//
// Discovery, a pushed authorization request (RFC 9126) with PKCE, state and nonce, the code
// exchange with the ID token validated by the library (and its signature checked here against
// the published JWKS with jose), userinfo, refresh with rotation and reuse detection, and
// RP-initiated logout. Every step asserts and prints one line; any surprise exits 1.
//
// Run by tests/suite/interop.rs with ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// POST_LOGOUT_REDIRECT_URI, USERNAME and PASSWORD set.

import assert from 'node:assert/strict'
import * as client from 'openid-client'
import * as jose from 'jose'

const env = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const ISSUER = new URL(env('ISSUER'))
const REDIRECT_URI = env('REDIRECT_URI')
const POST_LOGOUT_REDIRECT_URI = env('POST_LOGOUT_REDIRECT_URI')
const step = (name, detail) => console.log(`ok  ${name}: ${detail}`)

/** A browser that keeps one cookie jar and follows nothing by itself. */
const browser = {
  cookies: new Map(),
  async visit(url, init = {}) {
    const headers = new Headers(init.headers)
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '))
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) })
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const [name, value] = pair.split('=')
      if (value) this.cookies.set(name, value)
      else this.cookies.delete(name)
    }
    return response
  },
  /** A form POST from the provider's own page: the Origin a browser sends. */
  submit(url, fields) {
    return this.visit(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: ISSUER.origin },
      body: new URLSearchParams(fields),
    })
  },
}

const hidden = (html, name) => {
  const match = html.match(new RegExp(`name="${name}" value="([^"]*)"`))
  assert.ok(match, `the page has a hidden ${name}`)
  return match[1]
}

/** Follows the sign-in: login form, consent form, until the redirect to the client. */
async function signIn(authorizationUrl) {
  let response = await browser.visit(authorizationUrl)
  for (let steps = 0; steps < 5; steps++) {
    assert.equal(response.status, 303, `a 303 at step ${steps}`)
    const location = new URL(response.headers.get('location'), authorizationUrl)
    if (location.href.startsWith(REDIRECT_URI)) return location
    const page = await (await browser.visit(location)).text()
    const common = { csrf_token: hidden(page, 'csrf_token'), interaction: hidden(page, 'interaction') }
    if (location.pathname.endsWith('/login')) {
      assert.match(page, /autocomplete="current-password"/)
      response = await browser.submit(new URL('login', location), { ...common, username: env('USERNAME'), password: env('PASSWORD') })
      step('login form', 'signed in')
    } else if (location.pathname.endsWith('/consent')) {
      response = await browser.submit(new URL('consent', location), { ...common, decision: 'allow' })
      step('consent form', 'allowed')
    } else {
      throw new Error(`unexpected page ${location}`)
    }
  }
  throw new Error('the sign-in did not end')
}

async function main() {
  const config = await client.discovery(ISSUER, env('CLIENT_ID'), undefined, client.ClientSecretBasic(env('CLIENT_SECRET')), {
    execute: [client.allowInsecureRequests],
    timeout: 10,
  })
  const metadata = config.serverMetadata()
  assert.equal(metadata.issuer, ISSUER.href.replace(/\/$/, ''))
  assert.ok(metadata.supportsPKCE('S256'))
  step('discovery', `${metadata.authorization_endpoint}, PAR at ${metadata.pushed_authorization_request_endpoint}`)

  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  assert.ok(authorizationUrl.searchParams.get('request_uri').startsWith('urn:ietf:params:oauth:request_uri:'))
  step('pushed authorization request', 'request_uri received')

  const callback = await signIn(authorizationUrl)
  assert.equal(callback.searchParams.get('iss'), metadata.issuer, 'RFC 9207 iss')
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const claims = tokens.claims()
  assert.equal(claims.nonce, nonce)
  assert.equal(claims.email, `${env('USERNAME')}@example.test`)
  assert.ok(tokens.refresh_token.startsWith('idp_rt_'))
  const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
  const verified = await jose.jwtVerify(tokens.id_token, jwks, { issuer: metadata.issuer, audience: env('CLIENT_ID') })
  assert.equal(verified.protectedHeader.alg, 'RS256')
  step('code exchange', `ID token for ${claims.sub} validated, signature verified with the JWKS`)

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  assert.equal(userinfo.sub, claims.sub)
  assert.equal(userinfo.email, claims.email)
  step('userinfo', `sub and email of ${userinfo.preferred_username}`)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated')
  assert.equal(refreshed.claims().sub, claims.sub)
  assert.equal(refreshed.claims().auth_time, claims.auth_time)
  step('refresh', 'new access, refresh and ID token; same subject and auth_time')
  // Past the 2 s in which a duplicate counts as a concurrent refresh rather than reuse.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), (e) => e.error === 'invalid_grant')
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (e) => e.error === 'invalid_grant')
  step('refresh reuse', 'the used token and its whole family are refused')

  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: POST_LOGOUT_REDIRECT_URI,
    state: 'bye',
  })
  const loggedOut = await browser.visit(endSession)
  assert.equal(loggedOut.status, 303)
  assert.equal(loggedOut.headers.get('location'), `${POST_LOGOUT_REDIRECT_URI}?state=bye`)
  const silent = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    prompt: 'none',
    state: 's',
  })
  const after = await browser.visit(silent)
  assert.equal(new URL(after.headers.get('location')).searchParams.get('error'), 'login_required')
  step('logout', 'back at the post-logout URI; prompt=none now answers login_required')
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
