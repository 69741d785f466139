/**
 * Enough of a PromQL parser to check a dashboard against the code: it tokenizes an expression, checks
 * its brackets and matchers are well formed, and returns each metric selector with its label matchers
 * and the labels the expression groups by. Not a full grammar: it knows the functions, aggregations
 * and keywords Ferry's dashboard uses, and rejects any other name followed by a bracket.
 */

export interface Selector {
  readonly metric: string;
  /** Label names its `{…}` matches on. */
  readonly labels: readonly string[];
}

export interface ParsedQuery {
  readonly selectors: readonly Selector[];
  /** Label names in `by (…)`, `without (…)`, `on (…)`, `ignoring (…)`. */
  readonly groupingLabels: readonly string[];
}

export class PromQlError extends Error {
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(`${message} in: ${expression}`);
  }
}

const FUNCTIONS = new Set([
  'rate', 'irate', 'increase', 'delta', 'deriv', 'histogram_quantile', 'abs', 'clamp_min', 'clamp_max', 'label_replace', 'vector', 'scalar', 'time',
  'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time', 'absent', 'round', 'ceil', 'floor',
]);
const AGGREGATIONS = new Set(['sum', 'max', 'min', 'avg', 'count', 'topk', 'bottomk', 'quantile', 'stddev', 'group']);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['bool', 'and', 'or', 'unless', 'offset']);

type Token = { kind: 'ident' | 'string' | 'number' | 'duration' | 'punct' | 'op'; text: string };

const TOKEN = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))|(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(=~|!~|!=|==|>=|<=|[-+*/%^<>=])|([(){}[\],]))/y;

function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    if (/^\s*$/.test(expression.slice(TOKEN.lastIndex))) break;
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(expression);
    if (!m) throw new PromQlError(`unexpected character at ${at}`, expression);
    if (m[1] !== undefined) tokens.push({ kind: 'string', text: m[1] });
    else if (m[2] !== undefined) tokens.push({ kind: 'duration', text: m[2] });
    else if (m[3] !== undefined) tokens.push({ kind: 'number', text: m[3] });
    else if (m[4] !== undefined) tokens.push({ kind: 'ident', text: m[4] });
    else if (m[5] !== undefined) tokens.push({ kind: 'op', text: m[5] });
    else tokens.push({ kind: 'punct', text: m[6]! });
  }
  return tokens;
}

const CLOSING: Record<string, string> = { '(': ')', '{': '}', '[': ']' };

export function parsePromQl(expression: string): ParsedQuery {
  const tokens = tokenize(expression);
  const stack: string[] = [];
  for (const t of tokens) {
    if (t.kind !== 'punct' || t.text === ',') continue;
    if (t.text in CLOSING) stack.push(CLOSING[t.text]!);
    else if (stack.pop() !== t.text) throw new PromQlError(`unbalanced ${t.text}`, expression);
  }
  if (stack.length > 0) throw new PromQlError(`unclosed bracket, expected ${stack.at(-1)}`, expression);

  const selectors: Selector[] = [];
  const groupingLabels: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const next = tokens[i + 1];
    if (t.kind === 'punct' && t.text === '[') {
      // A range: one duration, then the bracket closes.
      if (tokens[i + 1]?.kind !== 'duration' || tokens[i + 2]?.text !== ']') throw new PromQlError('a range must be [<duration>]', expression);
      i += 2;
      continue;
    }
    if (t.kind !== 'ident') continue;
    if (GROUPING.has(t.text)) {
      if (next?.text !== '(') {
        if (t.text === 'group_left' || t.text === 'group_right') continue;
        throw new PromQlError(`${t.text} needs a label list`, expression);
      }
      let j = i + 2;
      for (; tokens[j] && tokens[j]!.text !== ')'; j++) {
        const label = tokens[j]!;
        if (label.text === ',') continue;
        if (label.kind !== 'ident') throw new PromQlError(`not a label name: ${label.text}`, expression);
        groupingLabels.push(label.text);
      }
      i = j;
      continue;
    }
    if (KEYWORDS.has(t.text)) continue;
    // `sum by (…) (…)`: the aggregation comes before its grouping.
    if (AGGREGATIONS.has(t.text) && next?.kind === 'ident' && GROUPING.has(next.text)) continue;
    if (next?.text === '(') {
      if (!FUNCTIONS.has(t.text) && !AGGREGATIONS.has(t.text)) throw new PromQlError(`unknown function ${t.text}`, expression);
      continue;
    }
    // A metric name, with its matchers if any.
    const labels: string[] = [];
    if (next?.text === '{') {
      let j = i + 2;
      while (tokens[j] && tokens[j]!.text !== '}') {
        const [name, op, value] = [tokens[j], tokens[j + 1], tokens[j + 2]];
        if (name?.kind !== 'ident' || op?.kind !== 'op' || !['=', '!=', '=~', '!~'].includes(op.text) || value?.kind !== 'string') {
          throw new PromQlError('a label matcher must be name op "value"', expression);
        }
        labels.push(name.text);
        j += 3;
        if (tokens[j]?.text === ',') j += 1;
      }
      i = j;
    }
    selectors.push({ metric: t.text, labels });
  }
  return { selectors, groupingLabels };
}
