/** Where the user is in the app, and the sign-in address that brings them back there. */
export const BASE = '/app'

export function currentPath (): string {
  const { pathname, search } = window.location
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname
  return `${path === '' ? '/' : path}${search}`
}

export function signInPath (next: string, expired: boolean): string {
  const params = new URLSearchParams({ next })
  if (expired) params.set('expired', '1')
  return `/sign-in?${params.toString()}`
}
