/**
 * Einsum equations that are a plain matrix product with a constant operand
 * (onnx.ai/onnx/operators/onnx__Einsum.html): 'ij,jk->ik', 'bij,jk->bik',
 * '...ij,jk->...ik', 'bik,kj->bij', and the transposed weight 'bij,kj->bik'.
 *
 * For the constant operand W and the other operand X, every subscript of W must be
 *  - the one contracted subscript (in W and X, not in the output): the reduction axis;
 *  - at most one free subscript (in W and the output, not in X): the output axis;
 *  - or a batch subscript (in W, X and the output).
 * Anything else (three operands, a diagonal 'ii', a sum over an axis of one
 * operand alone, two contracted or two free subscripts, an ellipsis on the
 * constant, whose axes the equation then does not name) is not a weight role.
 */

export interface EinsumWeightAxes {
  /** Axis of W that becomes an output axis; undefined for a matrix-vector product ('ij,j->i'). */
  outAxis: number | undefined;
  /** Axis of W that is summed over. */
  inAxis: number;
}

const ELLIPSIS = '.';

/**
 * The axes of operand `operand` (0 or 1) of rank `rank` in `equation`, or why
 * the equation is not a plain matmul for that operand.
 */
export function einsumWeightAxes(equation: string, operand: number, rank: number): EinsumWeightAxes | string {
  const parsed = parseEquation(equation);
  if (typeof parsed === 'string') return parsed;
  const { inputs, output } = parsed;
  if (inputs.length !== 2) return `Einsum '${equation}' has ${inputs.length} operand(s), not the two of a matmul`;
  const w = inputs[operand];
  const x = inputs[1 - operand];
  if (w.includes(ELLIPSIS)) return `Einsum '${equation}': the constant operand has an ellipsis`;
  if (w.length !== rank) return `Einsum '${equation}': ${w.length} subscripts for a rank-${rank} constant`;
  for (const term of [w, x, output]) {
    if (new Set(term).size !== term.length) return `Einsum '${equation}' repeats a subscript (a diagonal or trace)`;
  }
  if (x.includes(ELLIPSIS) && !output.includes(ELLIPSIS)) return `Einsum '${equation}' sums over the ellipsis axes`;
  const contracted: number[] = [];
  const free: number[] = [];
  for (let a = 0; a < w.length; a++) {
    const inX = x.includes(w[a]);
    const inOut = output.includes(w[a]);
    if (inX && !inOut) contracted.push(a);
    else if (!inX && inOut) free.push(a);
    else if (!inX && !inOut) return `Einsum '${equation}' sums the constant over '${w[a]}' alone`;
  }
  if (x.some((s) => s !== ELLIPSIS && !w.includes(s) && !output.includes(s))) return `Einsum '${equation}' sums the other operand over an axis alone`;
  if (contracted.length !== 1) return `Einsum '${equation}' contracts ${contracted.length} subscripts of the constant, not one`;
  if (free.length > 1) return `Einsum '${equation}' keeps ${free.length} output subscripts of the constant, not one`;
  return { outAxis: free[0], inAxis: contracted[0] };
}

/**
 * Input and output terms, each a list of subscripts with '.' for an ellipsis.
 * Without '->' the output is implicit: the subscripts that occur once, in
 * alphabetical order, after the ellipsis if any (the ONNX and NumPy rule).
 */
function parseEquation(equation: string): { inputs: string[][]; output: string[] } | string {
  const eq = equation.replace(/\s+/g, '');
  const arrow = eq.indexOf('->');
  const lhs = arrow < 0 ? eq : eq.slice(0, arrow);
  const terms: string[][] = [];
  for (const t of lhs.split(',')) {
    const term = parseTerm(t);
    if (term === undefined) return `Einsum '${equation}' is not a valid equation`;
    terms.push(term);
  }
  if (arrow >= 0) {
    const output = parseTerm(eq.slice(arrow + 2));
    return output === undefined ? `Einsum '${equation}' is not a valid equation` : { inputs: terms, output };
  }
  const counts = new Map<string, number>();
  for (const s of terms.flat()) if (s !== ELLIPSIS) counts.set(s, (counts.get(s) ?? 0) + 1);
  const once = [...counts].filter(([, c]) => c === 1).map(([s]) => s).sort();
  return { inputs: terms, output: terms.some((t) => t.includes(ELLIPSIS)) ? [ELLIPSIS, ...once] : once };
}

/** Subscript letters of one term, '...' as one '.' entry; undefined if malformed. */
function parseTerm(term: string): string[] | undefined {
  const dots = term.indexOf('...');
  if (dots >= 0 && term.indexOf('...', dots + 1) >= 0) return undefined;
  const letters = (dots >= 0 ? term.slice(0, dots) + ELLIPSIS + term.slice(dots + 3) : term).split('');
  return letters.every((c) => c === ELLIPSIS || /^[A-Za-z]$/.test(c)) ? letters : undefined;
}
