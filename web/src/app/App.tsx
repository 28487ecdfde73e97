/**
 * The dashboard's shell: one query cache, the router (under /app), the pages
 * that need no session (sign-in, accepting an invitation) and, behind the
 * session, the layout with its pages. Any 401 from the API (a session that
 * expired or was revoked) sends the user to sign-in, which brings them back.
 */
import { QueryClientProvider } from '@tanstack/react-query'
import { useEffect } from 'react'
import { BrowserRouter, Route, Routes, useNavigate } from 'react-router'
import { whenUnauthenticated } from '../lib/api.ts'
import { BASE, currentPath, signInPath } from '../lib/navigation.ts'
import { queryClient } from '../lib/query.ts'
import { sessionKey } from '../features/auth/api.ts'
import { SignInPage } from '../features/auth/SignInPage.tsx'
import { AssistantPage } from '../features/assistant/AssistantPage.tsx'
import { AuditLogPage } from '../features/audit/AuditLogPage.tsx'
import { BudgetPage } from '../features/budget/BudgetPage.tsx'
import { ImpersonationsPage } from '../features/impersonation/ImpersonationsPage.tsx'
import { AcceptInvitationPage } from '../features/members/AcceptInvitationPage.tsx'
import { MembersPage } from '../features/members/MembersPage.tsx'
import { HomePage } from '../features/organizations/HomePage.tsx'
import { RolesPage } from '../features/roles/RolesPage.tsx'
import { SecurityLogPage } from '../features/security-log/SecurityLogPage.tsx'
import { Layout } from './Layout.tsx'

function SessionExpiry () {
  const navigate = useNavigate()
  useEffect(() => {
    whenUnauthenticated(() => {
      if (currentPath().startsWith('/sign-in')) return
      // "Your session has ended" only when there was one: a first visit just signs in.
      const hadSession = queryClient.getQueryData(sessionKey) !== undefined
      queryClient.clear()
      void navigate(signInPath(currentPath(), hadSession), { replace: true })
    })
  }, [navigate])
  return null
}

export function App () {
  return (
    <QueryClientProvider client={queryClient}>
      <BrowserRouter basename={BASE}>
        <SessionExpiry />
        <Routes>
          <Route path="/sign-in" element={<SignInPage />} />
          <Route path="/invitations/:token" element={<AcceptInvitationPage />} />
          <Route element={<Layout />}>
            <Route index element={<HomePage />} />
            <Route path="/orgs/:orgId/members" element={<MembersPage />} />
            <Route path="/orgs/:orgId/audit" element={<AuditLogPage />} />
            <Route path="/orgs/:orgId/audit/:section" element={<AuditLogPage />} />
            <Route path="/orgs/:orgId/impersonations" element={<ImpersonationsPage />} />
            <Route path="/orgs/:orgId/roles" element={<RolesPage />} />
            <Route path="/orgs/:orgId/assistant" element={<AssistantPage />} />
            <Route path="/orgs/:orgId/ai-budget" element={<BudgetPage />} />
            <Route path="/me/security-log" element={<SecurityLogPage />} />
            <Route path="*" element={<NotFound />} />
          </Route>
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  )
}

function NotFound () {
  return <section><h1>Page not found</h1><p><a href={BASE}>Back to the dashboard</a></p></section>
}
