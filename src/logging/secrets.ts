// A process-wide registry of secret values (passwords, passphrases, the bot secret). Whatever text leaves the
// process (log lines, error messages printed by the CLI) goes through `maskSecrets`, so a secret that slips
// into a message, an object field or a stack trace is still never written out.

/** The replacement written in place of a secret. */
export const SECRET_MASK = '***';

/**
 * Secrets shorter than this are not masked in free text: masking "ab" would garble every line that contains
 * those letters and, by the gaps, still tell the reader what the secret is. Such secrets are refused by
 * `register` (it returns false) so the caller can warn the operator; key-based redaction in the logger still
 * hides them when they are logged as a password/secret field.
 */
export const MIN_MASKED_SECRET_LENGTH = 4;

export class SecretRegistry {
  // Every form a secret can take in output: raw, and escaped as inside a JSON string (log lines are JSON).
  private readonly forms = new Set<string>();
  // Longest first, so a secret that contains another registered one is masked as a whole.
  private ordered: string[] = [];

  /**
   * Remember `value` as secret. Returns false (and masks nothing) for values too short to mask safely
   * (fewer than MIN_MASKED_SECRET_LENGTH characters once surrounding whitespace is ignored).
   */
  register(value: string): boolean {
    if (value.trim().length < MIN_MASKED_SECRET_LENGTH) return false;
    const before = this.forms.size;
    this.forms.add(value);
    this.forms.add(JSON.stringify(value).slice(1, -1));
    if (this.forms.size !== before) this.ordered = [...this.forms].sort((a, b) => b.length - a.length);
    return true;
  }

  /** Whether `value` is registered (in any of its forms). */
  has(value: string): boolean {
    return this.forms.has(value);
  }

  get size(): number {
    return this.forms.size;
  }

  /** `text` with every occurrence of every registered secret replaced by SECRET_MASK. */
  mask(text: string): string {
    let masked = text;
    for (const form of this.ordered) {
      if (masked.includes(form)) masked = masked.split(form).join(SECRET_MASK);
    }
    return masked;
  }
}

/** The registry of this process: the config loader registers into it, every logger and the CLI mask with it. */
export const processSecrets = new SecretRegistry();

/** Register a secret in the process-wide registry (see SecretRegistry.register for the length rule). */
export function registerSecret(value: string): boolean {
  return processSecrets.register(value);
}

/** `text` with every secret registered in this process replaced by "***". */
export function maskSecrets(text: string): string {
  return processSecrets.mask(text);
}
