/** Keyset paging in the UI: the cursors of the pages seen so far, so Previous goes back without the API paging backwards. */
import { useState } from 'react'

export function useCursorPages () {
  const [cursors, setCursors] = useState<Array<string | undefined>>([undefined])
  const cursor = cursors.at(-1)
  return {
    cursor,
    pageNumber: cursors.length,
    next: (nextCursor: string) => setCursors((seen) => [...seen, nextCursor]),
    previous: () => setCursors((seen) => (seen.length > 1 ? seen.slice(0, -1) : seen)),
    reset: () => setCursors([undefined])
  }
}
