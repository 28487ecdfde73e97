/** Small shared pieces: an error next to what it is about, loading and empty states, money. */
import type { ReactNode } from 'react'
import { messageOf } from './api.ts'
import { formatMicros } from './money.ts'

export function ErrorText ({ error, id }: { error: unknown, id?: string }) {
  if (error === null || error === undefined) return null
  return <p className="error" role="alert" id={id}>{messageOf(error)}</p>
}

export function Loading ({ what }: { what: string }) {
  return <p className="muted" role="status">Loading {what}…</p>
}

export function Empty ({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>
}

/** Micro-units as currency in a `<data>` element holding the exact figure. */
export function Money ({ micros, currency, digits }: { micros: number, currency: string, digits?: number }) {
  return <data value={micros}>{formatMicros(micros, currency, digits)}</data>
}
