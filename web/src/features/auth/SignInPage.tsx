/** Sign-in by e-mail and password; afterwards, back to the page the user was on (?next=). */
import { useMutation, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useNavigate, useSearchParams } from 'react-router'
import { ErrorText } from '../../lib/components.tsx'
import { signIn } from './api.ts'

/** Only a path of this app: an absolute or protocol-relative ?next= would send the user elsewhere. */
export function safeNext (next: string | null): string {
  return next !== null && next.startsWith('/') && !next.startsWith('//') ? next : '/'
}

export function SignInPage () {
  const [params] = useSearchParams()
  const navigate = useNavigate()
  const queries = useQueryClient()
  const [email, setEmail] = useState(params.get('email') ?? '')
  const [password, setPassword] = useState('')
  const mutation = useMutation({
    mutationFn: () => signIn(email, password),
    onSuccess: async () => {
      queries.clear()
      await navigate(safeNext(params.get('next')), { replace: true })
    }
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    mutation.mutate()
  }
  return (
    <main className="narrow">
      <h1>Sign in to Ledgerline</h1>
      {params.get('expired') !== null && <p className="notice" role="status">Your session has ended: sign in again to continue.</p>}
      {params.get('stopped') !== null && <p className="notice" role="status">The impersonation has ended: sign in as yourself.</p>}
      <form onSubmit={submit} aria-describedby="sign-in-error">
        <label htmlFor="email">E-mail</label>
        <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" required value={password}
          onChange={(e) => setPassword(e.target.value)} />
        <ErrorText error={mutation.error} id="sign-in-error" />
        <button type="submit" disabled={mutation.isPending}>{mutation.isPending ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  )
}
