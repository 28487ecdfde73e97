/**
 * The dashboard's one way to call the API: the same public routes as any
 * client, authenticated by the session cookie (HttpOnly: this code never sees
 * the token). A request that changes state carries the CSRF token, read from
 * its own cookie (a double submit the server checks against the session).
 * Every error is the API's problem+json, thrown as an ApiProblem.
 */
export const CSRF_COOKIE = 'll_csrf'
export const CSRF_HEADER = 'x-csrf-token'

export interface Problem {
  type?: string
  title: string
  status: number
  code: string
  detail?: string
  errors?: Array<{ path?: string, message?: string }>
  [key: string]: unknown
}

export class ApiProblem extends Error {
  readonly problem: Problem
  constructor (problem: Problem) {
    super(problem.detail ?? problem.title)
    this.problem = problem
  }

  get status (): number { return this.problem.status }
  get code (): string { return this.problem.code }
}

/** Called when the API answers 401: the session is over (src/app/App.tsx sends the user to sign in). */
let onUnauthenticated: ((problem: ApiProblem) => void) | undefined
export function whenUnauthenticated (handler: (problem: ApiProblem) => void): void {
  onUnauthenticated = handler
}

function cookie (name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return decodeURIComponent(value.join('='))
  }
  return undefined
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Read-your-writes: the position of this page's last write, sent with every
 * read as X-Consistent-With, so a list read after an invite shows it.
 */
let lastPosition: string | undefined

function notePosition (body: unknown): void {
  const position = typeof body === 'object' && body !== null ? (body as { position?: unknown }).position : undefined
  if (typeof position === 'string') lastPosition = position
}

export async function api<T> (method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...csrfHeaders(method) }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (SAFE.has(method) && lastPosition !== undefined) headers['x-consistent-with'] = lastPosition
  const response = await fetch(path, {
    method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  if (!response.ok) throw await problemOf(response, path)
  const text = await response.text()
  const parsed: unknown = text === '' ? undefined : JSON.parse(text)
  if (!SAFE.has(method)) notePosition(parsed)
  return parsed as T
}

/** The header a request with this method carries for the CSRF check: none for a read. */
export function csrfHeaders (method: string): Record<string, string> {
  // Over https (and in production) the server names its cookies with the __Host- prefix.
  const csrf = cookie(`__Host-${CSRF_COOKIE}`) ?? cookie(CSRF_COOKIE)
  return SAFE.has(method) || csrf === undefined ? {} : { [CSRF_HEADER]: csrf }
}

/** A refused answer as the ApiProblem it carries; a 401 (outside the session routes) also ends the session on the page. */
export async function problemOf (response: Response, path: string): Promise<ApiProblem> {
  const text = await response.text()
  let parsed: unknown
  try {
    parsed = text === '' ? undefined : JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const problem = new ApiProblem(isProblem(parsed) ? parsed : { title: response.statusText, status: response.status, code: 'http.error' })
  if (response.status === 401 && onUnauthenticated !== undefined && !path.startsWith('/v1/auth/')) onUnauthenticated(problem)
  return problem
}

function isProblem (value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && typeof (value as Problem).code === 'string' &&
    typeof (value as Problem).status === 'number'
}

/** The message to show for an error: the problem's detail, else its title. */
export function messageOf (error: unknown): string {
  if (error instanceof ApiProblem) return error.problem.detail ?? error.problem.title
  return error instanceof Error ? error.message : String(error)
}

/** The detail of an error naming this body field (its `errors[].path`), to show next to the field. */
export function fieldError (error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiProblem)) return undefined
  const hit = error.problem.errors?.find((entry) => entry.path === field || entry.path === `/${field}` || entry.path === `body.${field}`)
  return hit?.message
}
