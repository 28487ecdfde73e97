/** Assertions and steps on the HTTP API that several test files share. */
import type { Test } from 'tap'
import type { TestApp } from './app.ts'

/** The response is problem+json with this status and stable code. */
export function problem (t: Test, response: { statusCode: number, headers: Record<string, unknown>, json: () => { code?: string } },
  status: number, code: string): void {
  t.equal(response.statusCode, status, `status ${status} (${code}): ${JSON.stringify(response.json()).slice(0, 300)}`)
  t.match(String(response.headers['content-type']), /^application\/problem\+json/)
  t.equal(response.json().code, code)
}

/** Signs a user up through the API; returns their id, session token and the command's position. */
export async function register (api: TestApp, email: string,
  password = 'correct horse battery'): Promise<{ userId: string, token: string, position: string }> {
  const response = await api.call('POST', '/v1/auth/register', { token: null, body: { email, password, displayName: email.split('@')[0] } })
  if (response.statusCode !== 201) throw new Error(`register ${email}: ${response.body}`)
  return response.json()
}
