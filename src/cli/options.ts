// Argument parsers shared by the commands: a bad value is a usage error (exit 2) with a one-line reason.
import { InvalidArgumentError } from 'commander';

export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
    return n;
  };
}

export const portNumber = wholeNumber(0, 65535);
export const positiveInt = wholeNumber(1, 1_000_000);
