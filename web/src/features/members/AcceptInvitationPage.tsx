/**
 * Accepting an invitation. As a new user, a name and a password create the
 * account with the invited address; then the dashboard signs in with them
 * (the cookie session) and opens the organization. With an account already,
 * "Join with my account" accepts as the signed-in user; signed out, the API's
 * 401 sends them to sign in, which brings them back here.
 */
import { useMutation } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useNavigate, useParams, useSearchParams } from 'react-router'
import { fieldError } from '../../lib/api.ts'
import { ErrorText } from '../../lib/components.tsx'
import { queryClient } from '../../lib/query.ts'
import { signIn } from '../auth/api.ts'
import { acceptInvitation } from './api.ts'

export function AcceptInvitationPage () {
  const { token = '' } = useParams()
  const [params] = useSearchParams()
  const navigate = useNavigate()
  const [email, setEmail] = useState(params.get('email') ?? '')
  const [displayName, setDisplayName] = useState('')
  const [password, setPassword] = useState('')
  const joined = async (accepted: { orgId: string }) => {
    queryClient.clear()
    await navigate(`/orgs/${accepted.orgId}/members`, { replace: true })
  }
  const mutation = useMutation({
    mutationFn: async () => {
      const accepted = await acceptInvitation(token, { displayName, password })
      await signIn(email, password)
      return accepted
    },
    onSuccess: joined
  })
  const join = useMutation({ mutationFn: () => acceptInvitation(token), onSuccess: joined })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    mutation.mutate()
  }
  const passwordError = fieldError(mutation.error, 'password')
  return (
    <main className="narrow">
      <h1>Join the organization</h1>
      <section aria-labelledby="join-existing">
        <h2 id="join-existing">I have an account</h2>
        <p>
          Join as the user you are signed in as (its address must be the invited one);
          signed out, you sign in first and come back here.
        </p>
        <ErrorText error={join.error} />
        <button type="button" onClick={() => join.mutate()} disabled={join.isPending}>Join with my account</button>
      </section>
      <h2>I am new here</h2>
      <p>Create your account for the invited address.</p>
      <form onSubmit={submit}>
        <label htmlFor="accept-email">Invited e-mail</label>
        <input id="accept-email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="accept-name">Your name</label>
        <input id="accept-name" required value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        <label htmlFor="accept-password">Password (at least 10 characters)</label>
        <input id="accept-password" type="password" autoComplete="new-password" required value={password}
          onChange={(e) => setPassword(e.target.value)} aria-invalid={passwordError !== undefined} aria-describedby="accept-error" />
        <ErrorText error={passwordError ?? mutation.error} id="accept-error" />
        <button type="submit" disabled={mutation.isPending}>Create account and join</button>
      </form>
    </main>
  )
}
