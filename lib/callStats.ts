/**
 * Counts of calls that reach Azure (uploads, datastore look-ups, endpoint GET/PUT), so tests can prove that a
 * preview, or the program under mocks, makes none. Kept on globalThis rather than in a module variable:
 * Pulumi serializes a dynamic provider's closure by value, and a captured counter would put the current
 * count into the provider's text (and so into resource inputs).
 */
type Counts = Record<string, number>;

function counts(): Counts {
  const g = globalThis as unknown as { __heartScoringCallCounts?: Counts };
  return (g.__heartScoringCallCounts ??= {});
}

export function countCall(kind: string): void {
  const c = counts();
  c[kind] = (c[kind] ?? 0) + 1;
}

export function callCount(kind: string): number {
  return counts()[kind] ?? 0;
}
