// Quoting for /bin/sh, shared by everything that builds a command line for a shell on this or a remote host.

/** Single-quotes a word for /bin/sh. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A word as typed by a person: left bare when it holds only safe characters (paths, names), else quoted. */
export function shellWord(word: string): string {
  return /^[\w./~@%+=:,-]+$/.test(word) ? word : shellQuote(word);
}
