/** The one cache of server state: what the API answered, by key; refetched when a write says it changed. */
import { QueryClient } from '@tanstack/react-query'
import { ApiProblem } from './api.ts'

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A problem the client caused (4xx) will not change by asking again.
      retry: (count, error) => !(error instanceof ApiProblem && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
      staleTime: 10_000
    },
    mutations: { retry: false }
  }
})
