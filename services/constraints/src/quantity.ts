// Kubernetes resource quantities ("500m", "2Gi", "1.5", "1e3") as plain numbers, so
// requests can be compared with a node's allocatable. Cores stay cores (0.5 for "500m"),
// bytes stay bytes.

export class QuantityError extends Error {
  override name = 'QuantityError';
}

const SUFFIX: Record<string, number> = {
  '': 1,
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY_RE = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** Parses a quantity as the apiserver writes it; numbers pass through. Throws QuantityError. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new QuantityError(`quantity ${q} is not a finite number`);
    return q;
  }
  const m = QUANTITY_RE.exec(q.trim());
  if (!m) throw new QuantityError(`"${q}" is not a Kubernetes quantity`);
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * (SUFFIX[m[3] ?? ''] ?? 1);
}
