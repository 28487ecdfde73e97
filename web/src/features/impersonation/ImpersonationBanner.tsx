/**
 * Shown on every page while the session is an impersonation: whom you act
 * as, who you really are, why, and how long is left, with Stop. It has no
 * close button on purpose: it goes only when the impersonation does.
 */
import { useMutation } from '@tanstack/react-query'
import { useEffect, useState } from 'react'
import { useNavigate } from 'react-router'
import { api } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { queryClient } from '../../lib/query.ts'
import { signOut, type Impersonation, type Session } from '../auth/api.ts'

export function remaining (expiresAt: string, now: number): string {
  const seconds = Math.max(0, Math.floor((Date.parse(expiresAt) - now) / 1000))
  const minutes = Math.floor(seconds / 60)
  return `${minutes}:${String(seconds % 60).padStart(2, '0')}`
}

/** Ends the impersonation, then clears the cookies that held it: the impersonator signs in as themselves again. */
export async function stopImpersonating (): Promise<void> {
  await api('POST', '/v1/impersonation/stop')
  await signOut()
}

export function ImpersonationBanner ({ session, impersonation }: { session: Session, impersonation: Impersonation }) {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [])
  const navigate = useNavigate()
  const stop = useMutation({
    mutationFn: stopImpersonating,
    onSuccess: async () => {
      queryClient.clear()
      await navigate('/sign-in?stopped=1', { replace: true })
    }
  })
  const who = impersonation.impersonator
  return (
    <div className="impersonation" role="alert" aria-live="polite">
      <strong>Impersonation active.</strong>{' '}
      You are acting as <b>{session.user.displayName}</b> ({session.user.email}); you are{' '}
      <b>{who.displayName ?? who.userId}</b>{who.email === null ? '' : ` (${who.email})`}.
      {' '}Reason: <q>{impersonation.reason}</q>.
      {' '}Ends in <time dateTime={impersonation.expiresAt}>{remaining(impersonation.expiresAt, now)}</time>.
      <button type="button" onClick={() => stop.mutate()} disabled={stop.isPending}>Stop</button>
      <ErrorText error={stop.error} />
    </div>
  )
}
