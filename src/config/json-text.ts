// JSON.parse with an error an operator can act on: the line and column of the fault and what was expected.
// V8 (Node 20) gives no position for many faults ("Unexpected token '}', "<the text>" is not valid JSON"),
// and its message echoes the text, which may hold a password; so on failure we locate the fault ourselves.

export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly detail: string,
  ) {
    super(`malformed JSON at line ${line}, column ${column}: ${detail}`);
    this.name = 'JsonSyntaxError';
  }
}

/** 1-based line and column of a 0-based offset into `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, Math.max(0, Math.min(offset, text.length)));
  const lines = before.split('\n');
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

class Fault {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {}
}

/** A strict JSON (RFC 8259) scanner that only reports where the first fault is. */
class FaultFinder {
  private i = 0;
  constructor(private readonly text: string) {}

  find(): Fault | undefined {
    try {
      this.ws();
      this.value();
      this.ws();
      if (this.i < this.text.length) this.fail(`unexpected ${this.describe()} after the end of the document`);
      return undefined;
    } catch (error) {
      if (error instanceof Fault) return error;
      throw error;
    }
  }

  private fail(detail: string): never {
    throw new Fault(this.i, detail);
  }

  private describe(): string {
    const c = this.text[this.i];
    return c === undefined ? 'end of input' : `character ${JSON.stringify(c)}`;
  }

  private ws(): void {
    while (this.i < this.text.length && ' \t\n\r'.includes(this.text[this.i] ?? '')) this.i++;
  }

  private value(): void {
    const c = this.text[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return;
      }
    }
    this.fail(`unexpected ${this.describe()}, expected a value`);
  }

  private object(): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === '}') {
      this.i++;
      return;
    }
    for (;;) {
      if (this.text[this.i] !== '"') this.fail(`unexpected ${this.describe()}, expected a double-quoted property name`);
      this.string();
      this.ws();
      if (this.text[this.i] !== ':') this.fail(`unexpected ${this.describe()}, expected ':' after a property name`);
      this.i++;
      this.ws();
      this.value();
      this.ws();
      if (this.text[this.i] === '}') {
        this.i++;
        return;
      }
      if (this.text[this.i] !== ',') this.fail(`unexpected ${this.describe()}, expected ',' or '}' after a property value`);
      this.i++;
      this.ws();
    }
  }

  private array(): void {
    this.i++;
    this.ws();
    if (this.text[this.i] === ']') {
      this.i++;
      return;
    }
    for (;;) {
      this.value();
      this.ws();
      if (this.text[this.i] === ']') {
        this.i++;
        return;
      }
      if (this.text[this.i] !== ',') this.fail(`unexpected ${this.describe()}, expected ',' or ']' after an array element`);
      this.i++;
      this.ws();
    }
  }

  private string(): void {
    this.i++;
    for (;;) {
      const c = this.text[this.i];
      if (c === undefined) this.fail('unterminated string');
      if (c === '"') {
        this.i++;
        return;
      }
      if (c < ' ') this.fail('control character (e.g. a raw newline) inside a string; write it escaped');
      if (c === '\\') {
        const e = this.text[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) this.fail('bad \\u escape in string');
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail('bad escape in string');
        this.i += 2;
        continue;
      }
      this.i++;
    }
  }

  private number(): void {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.text.slice(this.i));
    if (match === null) this.fail('malformed number');
    this.i += match[0].length;
  }
}

export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    // A fault JSON.parse saw but the scanner did not would be a scanner bug; point at the end then.
    const fault = new FaultFinder(text).find() ?? new Fault(text.length, 'not valid JSON');
    const { line, column } = lineAndColumn(text, fault.offset);
    throw new JsonSyntaxError(line, column, fault.detail);
  }
}
