import { identityProjection } from './identity/projection.ts'
import type { Projection } from './projection.ts'
import { streamCatalogue } from './stream_catalogue/projection.ts'

/** Every read model the application runs. */
export const projections: readonly Projection[] = [streamCatalogue, identityProjection]

export function findProjection (name: string): Projection | undefined {
  return projections.find((projection) => projection.name === name)
}
